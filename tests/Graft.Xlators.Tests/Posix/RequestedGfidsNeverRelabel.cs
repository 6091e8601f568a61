using Graft.Core;
using Graft.Xlators.Storage.Posix;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A client's GFID request (lookup's gfid-req) only ever names an object that has no GFID yet, and
/// never takes one another object holds: otherwise that object's handle or directory record would
/// lead to the requester's object. And a name opened under a GFID it does not hold is ESTALE.
/// </summary>
public sealed class RequestedGfidsNeverRelabel
{
    private static FopContext Root => PosixBrick.Root;

    private static Xdata Want(Gfid g)
    {
        var xd = new Xdata();
        xd.Set(PosixTranslator.GfidReqKey, g.ToBytes());
        return xd;
    }

    [PosixFact]
    public async Task A_gfid_req_never_replaces_the_gfid_an_object_has()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var d = await b.MkdirOk(Gfid.Root, "d");
        foreach (var (name, own) in new[] { ("f", f.Gfid), ("d", d.Gfid) })
        {
            var r = await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, name), Want(Gfid.NewGfid()));
            Assert.Equal(own, r.Value.Gfid);
        }
        await b.Release(fd);
        await b.RestartAsync(); // nothing cached: the handle store and the xattrs say the same
        Assert.Equal(f.Gfid, (await b.LookupOk(Gfid.Root, "f")).Gfid);
        Assert.Equal(d.Gfid, (await b.LookupOk(Gfid.Root, "d")).Gfid);
    }

    [PosixFact]
    public async Task A_gfid_req_held_by_another_file_or_directory_is_EEXIST_and_the_holder_keeps_it()
    {
        await using var b = await PosixBrick.StartAsync(dir =>
        {
            File.WriteAllText(Path.Combine(dir, "plain"), "mine");
            System.IO.Directory.CreateDirectory(Path.Combine(dir, "plaindir"));
        });
        var (victimFile, fd) = await b.CreateOk(Gfid.Root, "victim");
        await b.WriteOk(fd, "victim's data");
        var victimDir = await b.MkdirOk(Gfid.Root, "victimdir");
        foreach (var target in new[] { "plain", "plaindir" })
            foreach (var victim in new[] { victimFile.Gfid, victimDir.Gfid })
            {
                var r = await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, target), Want(victim));
                Assert.Equal(Errno.EEXIST, r.Error);
            }
        await b.Release(fd);
        await b.RestartAsync();
        // The victims still resolve by GFID to themselves, not to the requester's objects.
        var f = await b.Xl.LookupAsync(Root, Loc.Nameless(victimFile.Gfid));
        Assert.Equal(13, f.Value.Size);
        var vd = await b.Xl.LookupAsync(Root, Loc.Nameless(victimDir.Gfid));
        Assert.True(vd.Ok);
        Assert.Equal(victimDir.Ino, vd.Value.Ino);
        Assert.Equal(victimDir.Gfid, (await b.LookupOk(Gfid.Root, "victimdir")).Gfid);
        // The requesters were left without a GFID, so a plain lookup gives them their own.
        var plain = await b.LookupOk(Gfid.Root, "plain");
        var plainDir = await b.LookupOk(Gfid.Root, "plaindir");
        Assert.DoesNotContain(plain.Gfid, new[] { victimFile.Gfid, victimDir.Gfid, Gfid.Root });
        Assert.DoesNotContain(plainDir.Gfid, new[] { victimFile.Gfid, victimDir.Gfid, Gfid.Root });
    }

    [PosixFact]
    public async Task A_gfid_req_of_the_root_is_EINVAL()
    {
        await using var b = await PosixBrick.StartAsync(dir => System.IO.Directory.CreateDirectory(Path.Combine(dir, "plaindir")));
        var r = await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, "plaindir"), Want(Gfid.Root));
        Assert.Equal(Errno.EINVAL, r.Error);
        Assert.False((await b.LookupOk(Gfid.Root, "plaindir")).Gfid.IsRoot);
    }

    [PosixFact]
    public async Task Open_and_opendir_of_a_name_that_holds_another_gfid_are_ESTALE()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var d = await b.MkdirOk(Gfid.Root, "d");
        var stranger = Gfid.NewGfid();
        var fd2 = b.NewFd(stranger, FileMode.S_IFREG, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.ESTALE, await b.Xl.OpenAsync(Root, new Loc(stranger, Gfid.Root, "f", null, null), OpenFlags.O_RDONLY, fd2));
        var dfd = b.NewFd(stranger, FileMode.S_IFDIR, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.ESTALE, await b.Xl.OpendirAsync(Root, new Loc(stranger, Gfid.Root, "d", null, null), dfd));
        // Under their own GFIDs the names open as usual.
        await b.Release(await b.OpenOk(new Loc(f.Gfid, Gfid.Root, "f", null, null), OpenFlags.O_RDONLY));
        var own = b.NewFd(d.Gfid, FileMode.S_IFDIR, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.OK, await b.Xl.OpendirAsync(Root, new Loc(d.Gfid, Gfid.Root, "d", null, null), own));
        await b.Release(own);
        await b.Release(fd);
    }
}
