using System.Text;
using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Every fop of Translator.Fops.cs once, through whatever graph top it is given, asserting each
/// result. Shared (linked) by the in-process loopback tests and the end-to-end tests against a
/// brick process, so both prove the same thing.
/// </summary>
internal static class FopScenario
{
    private static readonly FopContext Root = FopContext.Root();

    private static T Ok<T>(Result<T> r, string what)
    {
        Assert.True(r.Ok, $"{what}: {r.Error.Name()}");
        return r.Value;
    }

    private static void Ok(Errno e, string what) => Assert.True(e == Errno.OK, $"{what}: {e.Name()}");

    /// <summary>Opens a client-side fd on an inode linked into <paramref name="table"/>.</summary>
    public static Fd NewFd(InodeTable table, in Iatt iatt, int flags)
    {
        var inode = table.Link(default, null, iatt);
        var fd = new Fd(inode, flags);
        table.Unref(inode);
        return fd;
    }

    public static async Task Release(Translator top, Fd fd)
    {
        if (fd.Unref())
        {
            if (fd.IsDirectory) await top.ReleasedirAsync(fd);
            else await top.ReleaseAsync(fd);
        }
    }

    public static async Task RunAsync(Translator top, InodeTable table)
    {
        var root = Ok(await top.LookupAsync(Root, Loc.Nameless(Gfid.Root)), "lookup /");
        Assert.True(root.IsDir);
        Ok(await top.StatfsAsync(Root, Loc.Nameless(Gfid.Root)), "statfs");

        // namespace
        var dirGfid = Gfid.NewGfid();
        var dir = Ok(await top.MkdirAsync(Root, Loc.Child(Gfid.Root, "dir"), 0x1ed, 0x12, dirGfid), "mkdir");
        Assert.Equal(dirGfid, dir.Gfid);
        Assert.Equal(dirGfid, Ok(await top.LookupAsync(Root, Loc.Child(Gfid.Root, "dir")), "lookup dir").Gfid);

        var fileGfid = Gfid.NewGfid();
        var fd = NewFd(table, new Iatt { Gfid = fileGfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR | OpenFlags.O_CREAT);
        var created = Ok(await top.CreateAsync(Root, Loc.Child(dirGfid, "file"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0x12, fileGfid, fd), "create");
        Assert.Equal(fileGfid, created.Gfid);

        // data
        var data = Encoding.UTF8.GetBytes("hello over the wire, " + new string('x', 5000));
        Assert.Equal(data.Length, Ok(await top.WritevAsync(Root, fd, data, 0), "writev"));
        Ok(await top.FsyncAsync(Root, fd, false), "fsync");
        var back = new byte[data.Length + 100];
        Assert.Equal(data.Length, Ok(await top.ReadvAsync(Root, fd, back, 0), "readv"));
        Assert.Equal(data, back[..data.Length]);
        Assert.Equal(0, Ok(await top.ReadvAsync(Root, fd, back, data.Length), "readv at eof"));
        Assert.Equal(data.Length, Ok(await top.FstatAsync(Root, fd), "fstat").Size);
        Ok(await top.FallocateAsync(Root, fd, 0, 0, 1 << 16), "fallocate");
        Assert.Equal(1 << 16, Ok(await top.FstatAsync(Root, fd), "fstat after fallocate").Size);
        var truncated = Ok(await top.FsetattrAsync(Root, fd, new SetAttr { Valid = SetAttrValid.Size, Size = data.Length }), "fsetattr");
        Assert.Equal(data.Length, truncated.Size);
        Assert.Equal(0, Ok(await top.LseekAsync(Root, fd, 0, 3 /* SEEK_DATA */), "lseek"));
        var lk = new FileLock { Type = LockType.Write, Start = 0, Length = 10, Pid = 1, Owner = 1 };
        Ok(await top.LkAsync(Root, fd, LockCmd.SetLk, lk), "lk setlk");
        Ok(await top.LkAsync(Root, fd, LockCmd.GetLk, lk), "lk getlk");
        Ok(await top.FsetxattrAsync(Root, fd, "user.f", "fv"u8.ToArray(), 0), "fsetxattr");
        Assert.Equal("fv"u8.ToArray(), Ok(await top.FgetxattrAsync(Root, fd, "user.f"), "fgetxattr"));
        Assert.Contains("user.f", Ok(await top.FlistxattrAsync(Root, fd), "flistxattr"));
        Ok(await top.FremovexattrAsync(Root, fd, "user.f"), "fremovexattr");
        Assert.Equal(Errno.ENODATA, (await top.FgetxattrAsync(Root, fd, "user.f")).Error);

        // a second file, by copy_file_range, opened by GFID
        var copyGfid = Gfid.NewGfid();
        var fd2 = NewFd(table, new Iatt { Gfid = copyGfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR | OpenFlags.O_CREAT);
        Ok(await top.CreateAsync(Root, Loc.Child(dirGfid, "copy"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, copyGfid, fd2), "create copy");
        Assert.Equal(100, Ok(await top.CopyFileRangeAsync(Root, fd, 0, fd2, 0, 100, 0), "copy_file_range"));
        Ok(await top.FlushAsync(Root, fd2), "flush");
        await Release(top, fd2);
        var fd3 = NewFd(table, new Iatt { Gfid = copyGfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDONLY);
        Ok(await top.OpenAsync(Root, Loc.Nameless(copyGfid), OpenFlags.O_RDONLY, fd3), "open by gfid");
        var copied = new byte[200];
        Assert.Equal(100, Ok(await top.ReadvAsync(Root, fd3, copied, 0), "readv copy"));
        Assert.Equal(data[..100], copied[..100]);
        await Release(top, fd3);
        Ok(await top.FlushAsync(Root, fd), "flush");
        await Release(top, fd);

        // attributes and names
        var fileLoc = new Loc(fileGfid, dirGfid, "file", null, null);
        Assert.Equal(data.Length, Ok(await top.StatAsync(Root, Loc.Nameless(fileGfid)), "stat").Size);
        var chmod = Ok(await top.SetattrAsync(Root, Loc.Nameless(fileGfid), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x180 }), "setattr");
        Assert.Equal(0x180u, chmod.Mode & PosixMode.PermMask);
        Ok(await top.AccessAsync(Root, Loc.Nameless(fileGfid), 4), "access");
        Ok(await top.SetxattrAsync(Root, Loc.Nameless(fileGfid), "user.p", "pv"u8.ToArray(), 0), "setxattr");
        Assert.Equal("pv"u8.ToArray(), Ok(await top.GetxattrAsync(Root, Loc.Nameless(fileGfid), "user.p"), "getxattr"));
        Assert.Contains("user.p", Ok(await top.ListxattrAsync(Root, Loc.Nameless(fileGfid)), "listxattr"));
        Ok(await top.RemovexattrAsync(Root, Loc.Nameless(fileGfid), "user.p"), "removexattr");
        byte[] one = [0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];   // +1, -2 (big-endian)
        Ok(await top.XattropAsync(Root, Loc.Nameless(fileGfid), "user.n", one), "xattrop");
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc },
                     Ok(await top.XattropAsync(Root, Loc.Nameless(fileGfid), "user.n", one), "xattrop"));

        var linkGfid = Gfid.NewGfid();
        var sl = Ok(await top.SymlinkAsync(Root, "file", Loc.Child(dirGfid, "sym"), 0, linkGfid), "symlink");
        Assert.True(sl.IsSymlink);
        Assert.Equal("file", Ok(await top.ReadlinkAsync(Root, Loc.Nameless(linkGfid)), "readlink"));
        var fifo = Ok(await top.MknodAsync(Root, Loc.Child(dirGfid, "fifo"), PosixMode.S_IFIFO | 0x1a4, 0, 0, Gfid.NewGfid()), "mknod");
        Assert.Equal(PosixMode.S_IFIFO, fifo.Type);
        var hard = Ok(await top.LinkAsync(Root, fileLoc, Loc.Child(dirGfid, "hard")), "link");
        Assert.Equal(fileGfid, hard.Gfid);
        Assert.Equal(2u, hard.Nlink);
        var moved = Ok(await top.RenameAsync(Root, Loc.Child(dirGfid, "hard"), Loc.Child(Gfid.Root, "moved"), RenameFlags.None), "rename");
        Assert.Equal(fileGfid, moved.Gfid);

        // directories
        var dfd = NewFd(table, dir, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        Ok(await top.OpendirAsync(Root, Loc.Nameless(dirGfid), dfd), "opendir");
        var names = Ok(await top.ReaddirAsync(Root, dfd, 0, 100), "readdir").Select(e => e.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "file", "copy", "sym", "fifo" }, names);
        var plus = Ok(await top.ReaddirpAsync(Root, dfd, 0, 100), "readdirp");
        Assert.Contains(plus, e => e.Name == "file" && e.Iatt is { } a && a.Gfid == fileGfid);
        Ok(await top.FsyncdirAsync(Root, dfd, false), "fsyncdir");
        await Release(top, dfd);

        // removal
        Ok(await top.UnlinkAsync(Root, Loc.Child(Gfid.Root, "moved")), "unlink moved");
        foreach (var n in new[] { "file", "copy", "sym", "fifo" }) Ok(await top.UnlinkAsync(Root, Loc.Child(dirGfid, n)), "unlink " + n);
        Ok(await top.RmdirAsync(Root, Loc.Child(Gfid.Root, "dir")), "rmdir");
        Assert.Equal(Errno.ENOENT, (await top.LookupAsync(Root, Loc.Child(Gfid.Root, "dir"))).Error);
    }

    /// <summary>
    /// The caller the request names reaches the brick: what it creates is owned by that caller, and
    /// a denied call is denied exactly as the same call on <paramref name="direct"/> (a local
    /// storage/posix) is, when one is given.
    /// </summary>
    public static async Task CallerIdentityReachesTheBrickAsync(Translator top, Translator? direct = null)
    {
        var user = FopContext.ForCaller(4242, 4243, [7, 8]);
        var open = Gfid.NewGfid();
        Ok(await top.MkdirAsync(Root, Loc.Child(Gfid.Root, "open"), 0x1ff, 0, open), "mkdir open");
        var mine = Ok(await top.MkdirAsync(user, Loc.Child(open, "mine"), 0x1ed, 0, Gfid.NewGfid()), "mkdir as user");
        Assert.Equal((4242u, 4243u), (mine.Uid, mine.Gid));
        var st = Ok(await top.StatAsync(user, Loc.Nameless(mine.Gfid)), "stat as user");
        Assert.Equal(4242u, st.Uid);

        if (direct is null) return;
        var priv = Gfid.NewGfid();
        Ok(await top.MkdirAsync(Root, Loc.Child(Gfid.Root, "private"), 0x1c0 /* 0700 */, 0, priv), "mkdir private");
        var overWire = (await top.MkdirAsync(user, Loc.Child(priv, "x"), 0x1ed, 0, Gfid.NewGfid())).Error;
        var local = (await direct.MkdirAsync(user, Loc.Child(priv, "y"), 0x1ed, 0, Gfid.NewGfid())).Error;
        Assert.Equal(local, overWire);
    }
}
