using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// Every fop runs with the caller's uid, gid and groups. Each denial is shown next to the same
/// caller succeeding where it is allowed, so a test cannot pass because everything fails.
/// </summary>
public sealed class PosixPermissionTests
{
    private static FopContext Root => PosixBrick.Root;
    private static FopContext User => PosixBrick.User;

    [PosixFact]
    public async Task New_objects_are_owned_by_the_caller()
    {
        await using var b = await PosixBrick.StartAsync();
        var pub = await b.PublicDirOk();
        var (f, fd) = await b.CreateOk(pub.Gfid, "f", ctx: User);
        await b.Release(fd);
        var d = await b.MkdirOk(pub.Gfid, "d", ctx: User);
        var s = await b.Xl.SymlinkAsync(User, "t", Loc.Child(pub.Gfid, "s"), 0, Gfid.NewGfid());
        var n = await b.Xl.MknodAsync(User, Loc.Child(pub.Gfid, "p"), FileMode.S_IFIFO | 0x1A4, 0, 0, Gfid.NewGfid());
        Assert.True(s.Ok && n.Ok);
        foreach (var i in new[] { f, d, s.Value, n.Value })
        {
            Assert.Equal(PosixBrick.UserId, i.Uid);
            Assert.Equal(PosixBrick.UserId, i.Gid);
        }
        Assert.Equal("4242:4242", Owner(Path.Combine(b.Dir, "pub", "f")));
        Assert.Equal("4242:4242", Owner(Path.Combine(b.Dir, "pub", "d")));
    }

    [PosixFact]
    public async Task Creating_needs_write_permission_on_the_parent()
    {
        await using var b = await PosixBrick.StartAsync();
        var pub = await b.PublicDirOk();
        Assert.True((await b.Xl.MkdirAsync(User, Loc.Child(pub.Gfid, "ok"), 0x1ED, 0, Gfid.NewGfid())).Ok);
        Assert.Equal(Errno.EACCES, (await b.Xl.MkdirAsync(User, Loc.Child(Gfid.Root, "no"), 0x1ED, 0, Gfid.NewGfid())).Error);
        var fd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EACCES, (await b.Xl.CreateAsync(User, Loc.Child(Gfid.Root, "no"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, fd.Inode.Gfid, fd)).Error);
        Assert.Equal(Errno.EACCES, (await b.Xl.SymlinkAsync(User, "x", Loc.Child(Gfid.Root, "no"), 0, Gfid.NewGfid())).Error);
        Assert.False(Path.Exists(Path.Combine(b.Dir, "no")));
    }

    [PosixFact]
    public async Task Opening_checks_the_mode_bits()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f", mode: 0x1A4 /* 0644 */);
        await b.WriteOk(fd, "data");
        await b.Release(fd);
        var ro = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY, User);
        Assert.Equal("data", await b.ReadAll(ro));
        await b.Release(ro);
        var w = b.NewFd(f.Gfid, FileMode.S_IFREG, OpenFlags.O_WRONLY);
        Assert.Equal(Errno.EACCES, await b.Xl.OpenAsync(User, Loc.Nameless(f.Gfid), OpenFlags.O_WRONLY, w));
        Assert.Equal(Errno.EACCES, await b.Xl.OpenAsync(User, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_TRUNC, w));

        var (secret, sfd) = await b.CreateOk(Gfid.Root, "secret", mode: 0x180 /* 0600 */);
        await b.Release(sfd);
        var r = b.NewFd(secret.Gfid, FileMode.S_IFREG, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EACCES, await b.Xl.OpenAsync(User, Loc.Nameless(secret.Gfid), OpenFlags.O_RDONLY, r));
        Assert.Equal(Errno.OK, await b.Xl.OpenAsync(Root, Loc.Nameless(secret.Gfid), OpenFlags.O_RDONLY, r));
        await b.Release(r);
    }

    [PosixFact]
    public async Task Lookup_needs_search_permission_on_the_parent()
    {
        await using var b = await PosixBrick.StartAsync();
        var open = await b.MkdirOk(Gfid.Root, "open", 0x1ED);
        var shut = await b.MkdirOk(Gfid.Root, "shut", 0x1C0 /* 0700 */);
        (await b.CreateOk(open.Gfid, "f")).Fd.Unref();
        (await b.CreateOk(shut.Gfid, "f")).Fd.Unref();
        Assert.True((await b.Xl.LookupAsync(User, Loc.Child(open.Gfid, "f"))).Ok);
        Assert.Equal(Errno.EACCES, (await b.Xl.LookupAsync(User, Loc.Child(shut.Gfid, "f"))).Error);
        var dfd = b.NewFd(open.Gfid, FileMode.S_IFDIR, 0);
        Assert.Equal(Errno.OK, await b.Xl.OpendirAsync(User, Loc.Nameless(open.Gfid), dfd));
        Assert.Equal(Errno.EACCES, await b.Xl.OpendirAsync(User, Loc.Nameless(shut.Gfid), b.NewFd(shut.Gfid, FileMode.S_IFDIR, 0)));
        await b.Release(dfd);
    }

    [PosixFact]
    public async Task Unlink_rename_setattr_and_link_are_checked()
    {
        await using var b = await PosixBrick.StartAsync();
        var pub = await b.PublicDirOk();
        (await b.CreateOk(pub.Gfid, "mine", ctx: User)).Fd.Unref();
        var (theirs, tfd) = await b.CreateOk(Gfid.Root, "theirs");
        tfd.Unref();
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(User, Loc.Child(pub.Gfid, "mine")));
        Assert.Equal(Errno.EACCES, await b.Xl.UnlinkAsync(User, Loc.Child(Gfid.Root, "theirs")));
        (await b.CreateOk(pub.Gfid, "mine2", ctx: User)).Fd.Unref();
        Assert.True((await b.Xl.RenameAsync(User, Loc.Child(pub.Gfid, "mine2"), Loc.Child(pub.Gfid, "mine3"), RenameFlags.None)).Ok);
        Assert.Equal(Errno.EACCES, (await b.Xl.RenameAsync(User, Loc.Child(Gfid.Root, "theirs"), Loc.Child(pub.Gfid, "stolen"), RenameFlags.None)).Error);
        var mine = await b.LookupOk(pub.Gfid, "mine3");
        Assert.True((await b.Xl.SetattrAsync(User, Loc.Nameless(mine.Gfid), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1C0 })).Ok);
        Assert.Equal(Errno.EPERM, (await b.Xl.SetattrAsync(User, Loc.Nameless(theirs.Gfid), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1FF })).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.SetattrAsync(User, Loc.Nameless(mine.Gfid), new SetAttr { Valid = SetAttrValid.Uid, Uid = 0 })).Error);
        Assert.Equal(Errno.EACCES, (await b.Xl.SetattrAsync(User, Loc.Nameless(theirs.Gfid), new SetAttr { Valid = SetAttrValid.Size, Size = 0 })).Error);
        Assert.True((await b.Xl.LinkAsync(User, Loc.Nameless(mine.Gfid), Loc.Child(pub.Gfid, "mine4"))).Ok);
        Assert.Equal(Errno.EACCES, (await b.Xl.LinkAsync(User, Loc.Nameless(mine.Gfid), Loc.Child(Gfid.Root, "mine5"))).Error);
    }

    [PosixFact]
    public async Task Supplementary_groups_and_setgid_directories_count()
    {
        await using var b = await PosixBrick.StartAsync();
        var team = await b.MkdirOk(Gfid.Root, "team");
        var set = await b.Xl.SetattrAsync(Root, Loc.Nameless(team.Gfid), new SetAttr { Valid = SetAttrValid.Gid | SetAttrValid.Mode, Gid = 5000, Mode = 0x5F8 /* 02770 */ });
        Assert.True(set.Ok);
        var member = FopContext.ForCaller(4242, 4242, [5000]);
        var (f, fd) = await b.CreateOk(team.Gfid, "f", ctx: member);
        await b.Release(fd);
        Assert.Equal(5000u, f.Gid); // inherited from the setgid directory
        Assert.Equal(4242u, f.Uid);
        var sub = await b.MkdirOk(team.Gfid, "sub", ctx: member);
        Assert.Equal(FileMode.S_ISGID, sub.Mode & FileMode.S_ISGID);
        Assert.Equal(Errno.EACCES, (await b.Xl.MkdirAsync(User, Loc.Child(team.Gfid, "x"), 0x1ED, 0, Gfid.NewGfid())).Error);

        // chgrp to a group the caller is in, and not to one it is not in.
        var pub = await b.PublicDirOk();
        var (g, gfd) = await b.CreateOk(pub.Gfid, "g", ctx: member);
        await b.Release(gfd);
        Assert.True((await b.Xl.SetattrAsync(member, Loc.Nameless(g.Gfid), new SetAttr { Valid = SetAttrValid.Gid, Gid = 5000 })).Ok);
        Assert.Equal(Errno.EPERM, (await b.Xl.SetattrAsync(member, Loc.Nameless(g.Gfid), new SetAttr { Valid = SetAttrValid.Gid, Gid = 6000 })).Error);
    }

    [PosixFact]
    public async Task Non_root_callers_cannot_touch_trusted_xattrs()
    {
        await using var b = await PosixBrick.StartAsync();
        var pub = await b.PublicDirOk();
        var (f, fd) = await b.CreateOk(pub.Gfid, "f", ctx: User);
        await b.Release(fd);
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(User, Loc.Nameless(f.Gfid), "user.k", "v"u8.ToArray(), 0));
        Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(User, Loc.Nameless(f.Gfid), "trusted.k", "v"u8.ToArray(), 0));
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, Loc.Nameless(f.Gfid), "trusted.k", "v"u8.ToArray(), 0));
        Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(User, Loc.Nameless(f.Gfid), "trusted.k")).Error);
        Assert.Equal(Errno.EPERM, await b.Xl.RemovexattrAsync(User, Loc.Nameless(f.Gfid), "trusted.k"));
        Assert.DoesNotContain("trusted.k", (await b.Xl.ListxattrAsync(User, Loc.Nameless(f.Gfid))).Value);
        Assert.Contains("trusted.k", (await b.Xl.ListxattrAsync(Root, Loc.Nameless(f.Gfid))).Value);
        Assert.Contains("user.k", (await b.Xl.ListxattrAsync(User, Loc.Nameless(f.Gfid))).Value);
    }

    [PosixFact]
    public async Task Credentials_are_restored_after_each_call()
    {
        await using var b = await PosixBrick.StartAsync();
        Assert.Equal(Errno.EACCES, (await b.Xl.MkdirAsync(User, Loc.Child(Gfid.Root, "no"), 0x1ED, 0, Gfid.NewGfid())).Error);
        // The same thread (synchronous fops) now acts as root again: root-only work succeeds and is root's.
        var d = await b.MkdirOk(Gfid.Root, "yes");
        Assert.Equal(0u, d.Uid);
        Assert.Equal("0:0", Owner(Path.Combine(b.Dir, "yes")));
    }

    [PosixFact]
    public async Task An_id_of_minus_one_is_nobody_never_root()
    {
        await using var b = await PosixBrick.StartAsync();
        var pub = await b.PublicDirOk();
        var minusOne = FopContext.ForCaller(uint.MaxValue, uint.MaxValue);
        var made = await b.Xl.MkdirAsync(minusOne, Loc.Child(pub.Gfid, "ok"), 0x1ED, 0, Gfid.NewGfid());
        Assert.True(made.Ok);
        Assert.Equal(65534u, made.Value.Uid);
        Assert.Equal(65534u, made.Value.Gid);
        Assert.Equal(Errno.EACCES, (await b.Xl.MkdirAsync(minusOne, Loc.Child(Gfid.Root, "no"), 0x1ED, 0, Gfid.NewGfid())).Error);
    }

    private static string Owner(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u:%g", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var s = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(10_000));
        return s.Trim();
    }
}
