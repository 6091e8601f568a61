using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// An unlink of a file's last name replies before the file's handle is dropped: a closing thread drops it after
/// closing the unlink's descriptor (the handle's directories, cold after a cache drop, are read there, and the inode
/// is freed through the handle, not through the name in the caller's directory). Meanwhile the GFID is gone to
/// nameless lookups and opens (ESTALE), as it is once the handle is; a file someone has open keeps its handle until its
/// last release, and a file with another name keeps it.
/// </summary>
public sealed class AnUnlinksHandleGoesBehindItsReply
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task The_handle_is_dropped_behind_the_reply_and_the_gfid_is_gone_meanwhile()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "some data");
        await b.Release(fd);
        using (CloseBehind.Hold())
        {
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));
            Assert.True(File.Exists(b.HandlePath(f.Gfid)), "the unlink replied before the handle was dropped");
            Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);
            var opened = b.NewFd(f.Gfid, FileMode.S_IFREG, OpenFlags.O_RDONLY);
            Assert.Equal(Errno.ESTALE, await b.Xl.OpenAsync(Root, Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY, opened));
        }
        // The refused open's release, or a closing thread once let go, dropped the handle.
        await b.HandleDroppedAsync(f.Gfid);
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);

        // Nobody asks for it meanwhile: the closing thread drops it.
        var (h, hfd) = await b.CreateOk(Gfid.Root, "h");
        await b.Release(hfd);
        using (CloseBehind.Hold())
        {
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "h")));
            Assert.True(File.Exists(b.HandlePath(h.Gfid)), "the handle waits for the closing thread");
        }
        await b.HandleDroppedAsync(h.Gfid); // a closing thread dropped it once let go

        // The same GFID is not special afterwards: a new file of another GFID in the same bucket works as ever.
        var (g, gfd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(gfd);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(g.Gfid))).Ok);
    }

    [PosixFact]
    public async Task An_open_file_keeps_its_handle_until_its_release_and_another_name_keeps_it_for_good()
    {
        await using var b = await PosixBrick.StartAsync();
        var (open, ofd) = await b.CreateOk(Gfid.Root, "open");
        var (linked, lfd) = await b.CreateOk(Gfid.Root, "linked");
        await b.Release(lfd);
        Assert.True((await b.Xl.LinkAsync(Root, Loc.Child(Gfid.Root, "linked"), Loc.Child(Gfid.Root, "other"))).Ok);
        using (CloseBehind.Hold())
        {
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "open")));
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "linked")));
            var byId = await b.Xl.LookupAsync(Root, Loc.Nameless(open.Gfid));
            Assert.True(byId.Ok, "an unlinked file still open is reachable by GFID: " + byId.Error.Name());
            Assert.Equal(0u, byId.Value.Nlink);
            Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(linked.Gfid))).Ok, "a file with a name left is found by GFID");
        }
        await b.Release(ofd);
        Assert.False(File.Exists(b.HandlePath(open.Gfid)), "the last release dropped the open file's handle");
        await Task.Delay(50); // let the closers run what was held; the linked file's handle must stay regardless
        Assert.True(File.Exists(b.HandlePath(linked.Gfid)), "the handle of a file with another name stays");
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(linked.Gfid))).Ok);
    }
}
