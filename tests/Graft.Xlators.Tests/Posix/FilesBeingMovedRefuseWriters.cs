using System.Buffers.Binary;
using System.Text;
using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// The brick's half of moving a file (docs/distribute.md, "Moving files"): a rebalance marks the file
/// through a read-only fd; the mark is refused while the file has a writer, and while it is on every
/// writer is refused; it goes with its fd; a retired file is never writable again, only the rebalance's
/// unlink-migrated removes its name, and its old copy is not found by GFID once no name is left.
/// </summary>
public class FilesBeingMovedRefuseWriters
{
    private static FopContext Root => PosixBrick.Root;
    private static readonly byte[] Dest = "b1"u8.ToArray();

    private static Task<Errno> MarkAsync(PosixBrick b, Fd fd) => b.Xl.FsetxattrAsync(Root, fd, PosixTranslator.MigratingXattr, Dest, 0).AsTask();

    [PosixFact]
    public async Task A_file_with_a_writer_cannot_be_marked_until_the_writer_is_gone()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, w) = await b.CreateOk(Gfid.Root, "f", flags: OpenFlags.O_WRONLY);
        var r = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EBUSY, await MarkAsync(b, r));
        await b.Release(w);
        var t = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY | OpenFlags.O_TRUNC);
        Assert.Equal(Errno.EBUSY, await MarkAsync(b, r));   // O_TRUNC counts as a writer
        await b.Release(t);
        Assert.Equal(Errno.OK, await MarkAsync(b, r));
        Assert.Equal(Errno.OK, await MarkAsync(b, r));       // its own mark again: fine
        var other = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EALREADY, await MarkAsync(b, other));
        Assert.Equal(Errno.EPERM, await b.Xl.FsetxattrAsync(PosixBrick.User, other, PosixTranslator.MigratingXattr, Dest, 0));
        await b.Release(other);
        await b.Release(r);
    }

    [PosixFact]
    public async Task While_marked_every_writer_is_refused_and_readers_are_not()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, w) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(w, "data");
        await b.Release(w);
        var (g, gfd) = await b.CreateOk(Gfid.Root, "g");
        await b.Release(gfd);
        var reader = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        var mark = await b.OpenOk(Loc.Child(Gfid.Root, "f").WithTarget(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal(Errno.OK, await MarkAsync(b, mark));
        Assert.Equal("1", Encoding.UTF8.GetString((await b.Xl.GetxattrAsync(Root, Loc.Child(Gfid.Root, "f"), PosixTranslator.MigratingXattr)).Value));

        var named = Loc.Child(Gfid.Root, "f");
        foreach (var flags in new[] { OpenFlags.O_WRONLY, OpenFlags.O_RDWR, OpenFlags.O_RDONLY | OpenFlags.O_TRUNC })
            Assert.Equal(Errno.EINPROGRESS, await b.Xl.OpenAsync(Root, named, flags, b.NewFd(f.Gfid, PosixMode.S_IFREG, flags)));
        var again = b.NewFd(f.Gfid, PosixMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.CreateAsync(Root, named, OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x1A4, 0, f.Gfid, again)).Error);
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.SetattrAsync(Root, named, new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1C0 })).Error);
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.FsetattrAsync(Root, reader, new SetAttr { Valid = SetAttrValid.Size, Size = 0 })).Error);
        Assert.Equal(Errno.EINPROGRESS, await b.Xl.SetxattrAsync(Root, named, "user.x", "1"u8.ToArray(), 0));
        Assert.Equal(Errno.EINPROGRESS, await b.Xl.FsetxattrAsync(Root, reader, "user.x", "1"u8.ToArray(), 0));
        Assert.Equal(Errno.EINPROGRESS, await b.Xl.RemovexattrAsync(Root, named, "user.x"));
        Assert.Equal(Errno.EINPROGRESS, await b.Xl.UnlinkAsync(Root, named));
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.RenameAsync(Root, named, Loc.Child(Gfid.Root, "f2"), RenameFlags.None)).Error);
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "g"), named, RenameFlags.None)).Error);
        Assert.Equal(Errno.EINPROGRESS, (await b.Xl.LinkAsync(Root, named, Loc.Child(Gfid.Root, "f3"))).Error);
        Assert.Equal("data", await b.ReadAll(reader));
        Assert.Equal("data", await b.ReadAll(await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY)));

        // The mark says how long the first refused writer has waited; it goes with its fd.
        var waited = await b.Xl.FgetxattrAsync(Root, mark, PosixTranslator.MigratingXattr);
        Assert.True(waited.Ok && BinaryPrimitives.ReadInt64BigEndian(waited.Value) >= 0);
        Assert.Equal(Errno.ENODATA, (await b.Xl.FgetxattrAsync(Root, reader, PosixTranslator.MigratingXattr)).Error);
        await b.Release(mark);
        var w2 = await b.OpenOk(named, OpenFlags.O_WRONLY);
        await b.WriteOk(w2, "DATA");
        await b.Release(w2);
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "g")));
        await b.Release(reader);
    }

    [PosixFact]
    public async Task A_retired_file_stays_unwritable_across_a_restart_and_only_unlink_migrated_removes_it()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, w) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(w, "old");
        await b.Release(w);
        var named = Loc.Child(Gfid.Root, "f");
        var mark = await b.OpenOk(named.WithTarget(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EPERM, await b.Xl.FsetxattrAsync(Root, mark, PosixTranslator.MigratedXattr, Dest, 0)); // not marked yet
        Assert.Equal(Errno.OK, await MarkAsync(b, mark));
        Assert.Equal(Errno.OK, await b.Xl.FsetxattrAsync(Root, mark, PosixTranslator.MigratedXattr, Dest, 0));
        await b.Release(mark);
        await b.RestartAsync();

        Assert.Equal(Errno.EINPROGRESS, await b.Xl.OpenAsync(Root, named, OpenFlags.O_WRONLY, b.NewFd(f.Gfid, PosixMode.S_IFREG, OpenFlags.O_WRONLY)));
        Assert.Equal(Errno.EINPROGRESS, await b.Xl.UnlinkAsync(Root, named));
        var again = await b.OpenOk(named, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EEXIST, await MarkAsync(b, again));
        // A file that is not retired is not removed by unlink-migrated.
        var (g, gfd) = await b.CreateOk(Gfid.Root, "g");
        await b.Release(gfd);
        Assert.Equal(Errno.EINVAL, await b.Xl.SetxattrAsync(Root, Loc.Nameless(Gfid.Root), PosixTranslator.UnlinkMigratedXattr, "g"u8.ToArray(), 0));
        Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(PosixBrick.User, Loc.Nameless(Gfid.Root), PosixTranslator.UnlinkMigratedXattr, "f"u8.ToArray(), 0));
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, Loc.Nameless(Gfid.Root), PosixTranslator.UnlinkMigratedXattr, "f"u8.ToArray(), 0));
        Assert.Equal(Errno.ENOENT, (await b.Xl.LookupAsync(Root, named)).Error);
        // Still open for reading here, but by GFID the old copy is gone: the file lives elsewhere now.
        Assert.Equal("old", await b.ReadAll(again));
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);
        await b.Release(again);
        Assert.False(File.Exists(b.HandlePath(f.Gfid)));
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(g.Gfid))).Ok);
    }
}
