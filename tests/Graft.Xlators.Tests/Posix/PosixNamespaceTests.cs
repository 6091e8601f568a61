using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>Entries: lookup, mkdir, create, mknod, symlink, link, unlink, rmdir, and the errors each gives.</summary>
public sealed class PosixNamespaceTests
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task Root_has_the_root_gfid_and_inode_number()
    {
        await using var b = await PosixBrick.StartAsync();
        var r = await b.Xl.LookupAsync(Root, Loc.Nameless(Gfid.Root));
        Assert.True(r.Ok);
        Assert.True(r.Value.Gfid.IsRoot);
        Assert.Equal(1UL, r.Value.Ino);
        Assert.True(r.Value.IsDir);
    }

    [PosixFact]
    public async Task Mkdir_then_lookup_by_name_and_by_gfid_give_the_same_object()
    {
        await using var b = await PosixBrick.StartAsync();
        var g = Gfid.NewGfid();
        var made = await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1ED, 0, g);
        Assert.True(made.Ok);
        Assert.Equal(g, made.Value.Gfid);
        Assert.Equal(Iatt.InoOf(g), made.Value.Ino);
        Assert.Equal(0x1EDu, made.Value.Mode & FileMode.PermMask);
        Assert.Equal(g, (await b.LookupOk(Gfid.Root, "d")).Gfid);
        var byId = await b.Xl.LookupAsync(Root, Loc.Nameless(g));
        Assert.True(byId.Ok);
        Assert.True(byId.Value.IsDir);
        Assert.True(System.IO.Directory.Exists(Path.Combine(b.Dir, "d")));
    }

    [PosixFact]
    public async Task Create_write_read_fstat()
    {
        await using var b = await PosixBrick.StartAsync();
        var (iatt, fd) = await b.CreateOk(Gfid.Root, "f");
        Assert.True(iatt.IsReg);
        await b.WriteOk(fd, "hello world");
        Assert.Equal("hello world", await b.ReadAll(fd));
        var st = await b.Xl.FstatAsync(Root, fd);
        Assert.Equal(11, st.Value.Size);
        Assert.Equal(iatt.Gfid, st.Value.Gfid);
        await b.Release(fd);
        Assert.Equal("hello world", File.ReadAllText(Path.Combine(b.Dir, "f")));
    }

    [PosixFact]
    public async Task Nlink_never_counts_the_handle_link()
    {
        await using var b = await PosixBrick.StartAsync();
        var (iatt, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(fd);
        Assert.Equal(1u, iatt.Nlink);
        Assert.Equal(1u, (await b.LookupOk(Gfid.Root, "f")).Nlink);
        Assert.True(File.Exists(b.HandlePath(iatt.Gfid)), "the handle link exists on disk");
        var linked = await b.Xl.LinkAsync(Root, Loc.Nameless(iatt.Gfid), Loc.Child(Gfid.Root, "g"));
        Assert.True(linked.Ok);
        Assert.Equal(iatt.Gfid, linked.Value.Gfid);
        Assert.Equal(2u, linked.Value.Nlink);
        Assert.Equal(2u, (await b.LookupOk(Gfid.Root, "g")).Nlink);
    }

    [PosixFact]
    public async Task The_roots_link_count_leaves_out_the_private_directory()
    {
        await using var b = await PosixBrick.StartAsync();
        var empty = await b.Xl.StatAsync(Root, Loc.Nameless(Gfid.Root));
        Assert.Equal(2u, empty.Value.Nlink); // "." and the parent's entry; .graft is invisible
        Directory.CreateDirectory(Path.Combine(b.Dir, "sub"));
        Assert.Equal(3u, (await b.Xl.StatAsync(Root, Loc.Nameless(Gfid.Root))).Value.Nlink);
    }

    [PosixFact]
    public async Task Retried_create_with_the_same_gfid_succeeds_and_another_gfid_is_EEXIST_with_excl_and_ESTALE_without()
    {
        await using var b = await PosixBrick.StartAsync();
        var g = Gfid.NewGfid();
        var (first, fd1) = await b.CreateOk(Gfid.Root, "f", gfid: g, flags: OpenFlags.O_RDWR | OpenFlags.O_EXCL);
        var (again, fd2) = await b.CreateOk(Gfid.Root, "f", gfid: g, flags: OpenFlags.O_RDWR | OpenFlags.O_EXCL);
        Assert.Equal(first.Gfid, again.Gfid);
        var other = Gfid.NewGfid();
        var fd3 = b.NewFd(other, FileMode.S_IFREG, OpenFlags.O_RDWR);
        var r = await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0x1A4, 0, other, fd3);
        Assert.Equal(Errno.EEXIST, r.Error);
        // Without O_EXCL the name's object is not opened under the GFID sent: the fd would name one
        // file and reach another. The client looks the name up and opens what is there.
        var r2 = await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, other, fd3);
        Assert.Equal(Errno.ESTALE, r2.Error);
        Assert.Equal(g, (await b.LookupOk(Gfid.Root, "f")).Gfid);
        await b.Release(fd1); await b.Release(fd2);
    }

    [PosixFact]
    public async Task Retried_mkdir_mknod_symlink_link_with_the_same_gfid_succeed()
    {
        await using var b = await PosixBrick.StartAsync();
        var gd = Gfid.NewGfid();
        Assert.True((await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1ED, 0, gd)).Ok);
        Assert.True((await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1ED, 0, gd)).Ok);
        Assert.Equal(Errno.EEXIST, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1ED, 0, Gfid.NewGfid())).Error);

        var gn = Gfid.NewGfid();
        Assert.True((await b.Xl.MknodAsync(Root, Loc.Child(Gfid.Root, "fifo"), FileMode.S_IFIFO | 0x1A4, 0, 0, gn)).Ok);
        var again = await b.Xl.MknodAsync(Root, Loc.Child(Gfid.Root, "fifo"), FileMode.S_IFIFO | 0x1A4, 0, 0, gn);
        Assert.True(again.Ok);
        Assert.Equal(FileMode.S_IFIFO, again.Value.Type);
        Assert.Equal(Errno.EEXIST, (await b.Xl.MknodAsync(Root, Loc.Child(Gfid.Root, "fifo"), FileMode.S_IFIFO | 0x1A4, 0, 0, Gfid.NewGfid())).Error);

        var gs = Gfid.NewGfid();
        Assert.True((await b.Xl.SymlinkAsync(Root, "target", Loc.Child(Gfid.Root, "s"), 0, gs)).Ok);
        Assert.True((await b.Xl.SymlinkAsync(Root, "target", Loc.Child(Gfid.Root, "s"), 0, gs)).Ok);
        Assert.Equal(Errno.EEXIST, (await b.Xl.SymlinkAsync(Root, "target", Loc.Child(Gfid.Root, "s"), 0, Gfid.NewGfid())).Error);

        Assert.True((await b.Xl.LinkAsync(Root, Loc.Nameless(gn), Loc.Child(Gfid.Root, "fifo2"))).Ok);
        var relink = await b.Xl.LinkAsync(Root, Loc.Nameless(gn), Loc.Child(Gfid.Root, "fifo2"));
        Assert.True(relink.Ok);
        Assert.Equal(gn, relink.Value.Gfid);
        Assert.Equal(Errno.EEXIST, (await b.Xl.LinkAsync(Root, Loc.Nameless(gn), Loc.Child(Gfid.Root, "s"))).Error);
    }

    [PosixFact]
    public async Task Symlink_and_readlink_store_the_target_verbatim()
    {
        await using var b = await PosixBrick.StartAsync();
        var made = await b.Xl.SymlinkAsync(Root, "../../../etc/passwd", Loc.Child(Gfid.Root, "s"), 0, Gfid.NewGfid());
        Assert.True(made.Ok);
        Assert.True(made.Value.IsSymlink);
        var r = await b.Xl.ReadlinkAsync(Root, Loc.Child(Gfid.Root, "s"));
        Assert.Equal("../../../etc/passwd", r.Value);
        var byId = await b.Xl.ReadlinkAsync(Root, Loc.Nameless(made.Value.Gfid));
        Assert.Equal("../../../etc/passwd", byId.Value);
        Assert.Equal(Errno.EINVAL, (await b.Xl.ReadlinkAsync(Root, Loc.Nameless(Gfid.Root))).Error);
    }

    [PosixFact]
    public async Task Unlink_and_rmdir_remove_names_and_handles()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(fd);
        var d = await b.MkdirOk(Gfid.Root, "d");
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));
        Assert.Equal(Errno.OK, await b.Xl.RmdirAsync(Root, Loc.Child(Gfid.Root, "d")));
        await b.HandleDroppedAsync(f.Gfid);
        Assert.False(File.Exists(b.HandlePath(d.Gfid)) || new FileInfo(b.HandlePath(d.Gfid)).LinkTarget is not null);
        Assert.Equal(Errno.ENOENT, (await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, "f"))).Error);
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid))).Error);
    }

    [PosixFact]
    public async Task Errors_ENOENT_EEXIST_ENOTEMPTY_EISDIR_ENOTDIR_ENAMETOOLONG()
    {
        await using var b = await PosixBrick.StartAsync();
        var d = await b.MkdirOk(Gfid.Root, "d");
        var (f, fd) = await b.CreateOk(d.Gfid, "f");
        await b.Release(fd);

        Assert.Equal(Errno.ENOENT, (await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, "missing"))).Error);
        Assert.Equal(Errno.ENOENT, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "missing")));
        Assert.Equal(Errno.EEXIST, (await b.Xl.MkdirAsync(Root, Loc.Child(d.Gfid, "f"), 0x1ED, 0, Gfid.NewGfid())).Error);
        Assert.Equal(Errno.ENOTEMPTY, await b.Xl.RmdirAsync(Root, Loc.Child(Gfid.Root, "d")));
        Assert.Equal(Errno.EISDIR, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "d")));
        var wfd = b.NewFd(d.Gfid, FileMode.S_IFDIR, OpenFlags.O_WRONLY);
        Assert.Equal(Errno.EISDIR, await b.Xl.OpenAsync(Root, Loc.Nameless(d.Gfid), OpenFlags.O_WRONLY, wfd));
        Assert.Equal(Errno.ENOTDIR, await b.Xl.RmdirAsync(Root, Loc.Child(d.Gfid, "f")));
        Assert.Equal(Errno.ENOTDIR, (await b.Xl.LookupAsync(Root, Loc.Child(f.Gfid, "x"))).Error);
        var dfd = b.NewFd(f.Gfid, FileMode.S_IFDIR, 0);
        Assert.Equal(Errno.ENOTDIR, await b.Xl.OpendirAsync(Root, Loc.Nameless(f.Gfid), dfd));
        var longName = new string('n', 256);
        Assert.Equal(Errno.ENAMETOOLONG, (await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, longName))).Error);
        Assert.Equal(Errno.ENAMETOOLONG, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, longName), 0x1ED, 0, Gfid.NewGfid())).Error);
        // 255 bytes of UTF-8 is fine; 86 three-byte characters (258 bytes) is not.
        Assert.True((await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, new string('m', 255)), 0x1ED, 0, Gfid.NewGfid())).Ok);
        Assert.Equal(Errno.ENAMETOOLONG, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, new string('€', 86)), 0x1ED, 0, Gfid.NewGfid())).Error);
    }

    [PosixFact]
    public async Task Setattr_changes_mode_owner_size_and_times()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "0123456789");
        var attr = new SetAttr
        {
            Valid = SetAttrValid.Mode | SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Size | SetAttrValid.Mtime | SetAttrValid.Atime,
            Mode = 0x180, Uid = 1234, Gid = 5678, Size = 4,
            Mtime = new Timespec(1_000_000_000, 5), Atime = new Timespec(1_100_000_000, 7),
        };
        var r = await b.Xl.SetattrAsync(Root, Loc.Nameless(f.Gfid), attr);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(0x180u, r.Value.Mode & FileMode.PermMask);
        Assert.Equal(1234u, r.Value.Uid);
        Assert.Equal(5678u, r.Value.Gid);
        Assert.Equal(4, r.Value.Size);
        Assert.Equal(new Timespec(1_000_000_000, 5), r.Value.Mtime);
        Assert.Equal(new Timespec(1_100_000_000, 7), r.Value.Atime);
        var fr = await b.Xl.FsetattrAsync(Root, fd, new SetAttr { Valid = SetAttrValid.Size | SetAttrValid.Mode, Size = 2, Mode = 0x1B6 });
        Assert.True(fr.Ok);
        Assert.Equal(2, fr.Value.Size);
        Assert.Equal(0x1B6u, fr.Value.Mode & FileMode.PermMask);
        Assert.Equal(Errno.EISDIR, (await b.Xl.SetattrAsync(Root, Loc.Nameless(Gfid.Root), new SetAttr { Valid = SetAttrValid.Size })).Error);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Create_mode_honours_the_callers_umask_not_the_process_umask()
    {
        await using var b = await PosixBrick.StartAsync();
        var fd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        var r = await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1B6 /* 0666 */, 0x2 /* 002 */, fd.Inode.Gfid, fd);
        Assert.Equal(0x1B4u /* 0664 */, r.Value.Mode & FileMode.PermMask);
        var d = await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1FF, 0x5 /* 005 */, Gfid.NewGfid());
        Assert.Equal(0x1FAu /* 0772 */, d.Value.Mode & FileMode.PermMask);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Access_and_statfs()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f", mode: 0x1A4);
        await b.Release(fd);
        Assert.Equal(Errno.OK, await b.Xl.AccessAsync(Root, Loc.Nameless(f.Gfid), 6));
        Assert.Equal(Errno.OK, await b.Xl.AccessAsync(PosixBrick.User, Loc.Nameless(f.Gfid), 4));
        Assert.Equal(Errno.EACCES, await b.Xl.AccessAsync(PosixBrick.User, Loc.Nameless(f.Gfid), 2));
        var s = await b.Xl.StatfsAsync(Root, Loc.Nameless(Gfid.Root));
        Assert.True(s.Ok);
        Assert.True(s.Value.Blocks > 0);
        Assert.Equal(255u, s.Value.NameMax);
    }
}
