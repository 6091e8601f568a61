using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>Data and metadata behave as on the underlying filesystem: holes, fallocate, copy_file_range, xattrs, locks.</summary>
public sealed class PosixIoTests
{
    private static FopContext Root => PosixBrick.Root;
    private const int SEEK_SET = 0, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;

    [PosixFact]
    public async Task Sparse_files_report_data_and_holes()
    {
        await using var b = await PosixBrick.StartAsync();
        var (_, fd) = await b.CreateOk(Gfid.Root, "sparse");
        await b.WriteOk(fd, "x", 1 << 20);
        var st = (await b.Xl.FstatAsync(Root, fd)).Value;
        Assert.Equal((1 << 20) + 1, st.Size);
        Assert.True(st.Blocks * 512 < 1 << 20, "the hole takes no space");
        Assert.Equal(0, (await b.Xl.LseekAsync(Root, fd, 0, SEEK_HOLE)).Value);
        Assert.Equal(1 << 20, (await b.Xl.LseekAsync(Root, fd, 0, SEEK_DATA)).Value);
        Assert.Equal(Errno.ENXIO, (await b.Xl.LseekAsync(Root, fd, (1 << 20) + 10, SEEK_DATA)).Error);
        Assert.Equal((1 << 20) + 1, (await b.Xl.LseekAsync(Root, fd, 0, SEEK_END)).Value);
        var buf = new byte[16];
        Assert.Equal(16, (await b.Xl.ReadvAsync(Root, fd, buf, 4096)).Value);
        Assert.All(buf, x => Assert.Equal(0, x));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Fallocate_allocates_keeps_size_punches_holes_and_refuses_unknown_modes()
    {
        await using var b = await PosixBrick.StartAsync();
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        Assert.Equal(Errno.OK, await b.Xl.FallocateAsync(Root, fd, 0, 0, 65536));
        Assert.Equal(65536, (await b.Xl.FstatAsync(Root, fd)).Value.Size);
        Assert.Equal(Errno.OK, await b.Xl.FallocateAsync(Root, fd, 1 /* KEEP_SIZE */, 65536, 65536));
        var st = (await b.Xl.FstatAsync(Root, fd)).Value;
        Assert.Equal(65536, st.Size);
        Assert.True(st.Blocks * 512 >= 131072);
        await b.WriteOk(fd, new string('a', 8192));
        Assert.Equal(Errno.OK, await b.Xl.FallocateAsync(Root, fd, 3 /* PUNCH_HOLE|KEEP_SIZE */, 0, 65536));
        Assert.Equal(0, (await b.Xl.LseekAsync(Root, fd, 0, SEEK_HOLE)).Value);
        Assert.Equal(65536, (await b.Xl.FstatAsync(Root, fd)).Value.Size);
        Assert.Equal(Errno.EOPNOTSUPP, await b.Xl.FallocateAsync(Root, fd, 0x100, 0, 4096));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Copy_file_range_copies_between_fds()
    {
        await using var b = await PosixBrick.StartAsync();
        var (_, src) = await b.CreateOk(Gfid.Root, "src");
        var (_, dst) = await b.CreateOk(Gfid.Root, "dst");
        await b.WriteOk(src, "0123456789");
        var r = await b.Xl.CopyFileRangeAsync(Root, src, 2, dst, 100, 5, 0);
        Assert.Equal(5, r.Value);
        var buf = new byte[5];
        await b.Xl.ReadvAsync(Root, dst, buf, 100);
        Assert.Equal("23456"u8.ToArray(), buf);
        await b.Release(src); await b.Release(dst);
    }

    [PosixFact]
    public async Task User_xattrs_behave_as_on_the_filesystem_and_acls_are_refused()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, loc, "user.a", "1"u8.ToArray(), 0));
        Assert.Equal(Errno.EEXIST, await b.Xl.SetxattrAsync(Root, loc, "user.a", "2"u8.ToArray(), 1 /* XATTR_CREATE */));
        Assert.Equal(Errno.ENODATA, await b.Xl.SetxattrAsync(Root, loc, "user.b", "2"u8.ToArray(), 2 /* XATTR_REPLACE */));
        Assert.Equal("1"u8.ToArray(), (await b.Xl.GetxattrAsync(Root, loc, "user.a")).Value);
        Assert.Equal(Errno.OK, await b.Xl.FsetxattrAsync(Root, fd, "user.big", new byte[3000], 0));
        Assert.Equal(3000, (await b.Xl.FgetxattrAsync(Root, fd, "user.big")).Value.Length);
        Assert.Equal(["user.a", "user.big"], (await b.Xl.ListxattrAsync(Root, loc)).Value.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(Errno.OK, await b.Xl.FremovexattrAsync(Root, fd, "user.big"));
        Assert.Equal(Errno.OK, await b.Xl.RemovexattrAsync(Root, loc, "user.a"));
        Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(Root, loc, "user.a")).Error);
        Assert.Equal(Errno.ENODATA, await b.Xl.RemovexattrAsync(Root, loc, "user.a"));
        Assert.Empty((await b.Xl.FlistxattrAsync(Root, fd)).Value);
        foreach (var acl in new[] { "system.posix_acl_access", "system.posix_acl_default" })
        {
            Assert.Equal(Errno.EOPNOTSUPP, await b.Xl.SetxattrAsync(Root, loc, acl, new byte[4], 0));
            Assert.Equal(Errno.EOPNOTSUPP, (await b.Xl.GetxattrAsync(Root, loc, acl)).Error);
            Assert.Equal(Errno.EOPNOTSUPP, await b.Xl.RemovexattrAsync(Root, loc, acl));
            Assert.Equal(Errno.EOPNOTSUPP, await b.Xl.FsetxattrAsync(Root, fd, acl, new byte[4], 0));
        }
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, Loc.Nameless(Gfid.Root), "user.dir", "d"u8.ToArray(), 0));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Rename_supports_noreplace_and_exchange_and_keeps_the_handle_store_right()
    {
        await using var b = await PosixBrick.StartAsync();
        var a = await b.MkdirOk(Gfid.Root, "a");
        var c = await b.MkdirOk(Gfid.Root, "c");
        var (f, fd) = await b.CreateOk(a.Gfid, "f");
        await b.Release(fd);
        var (g, gfd) = await b.CreateOk(Gfid.Root, "g");
        await b.Release(gfd);

        var moved = await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "a"), Loc.Child(c.Gfid, "a2"), RenameFlags.None);
        Assert.Equal(a.Gfid, moved.Value.Gfid);
        Assert.Equal(Errno.EEXIST, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "g"), Loc.Child(a.Gfid, "f"), RenameFlags.NoReplace)).Error);
        Assert.True((await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "c"), Loc.Child(Gfid.Root, "g"), RenameFlags.Exchange)).Ok);
        Assert.Equal(c.Gfid, (await b.LookupOk(Gfid.Root, "g")).Gfid);
        Assert.Equal(g.Gfid, (await b.LookupOk(Gfid.Root, "c")).Gfid);
        Assert.Equal(Errno.ENOENT, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "none"), Loc.Child(Gfid.Root, "x"), RenameFlags.None)).Error);

        // Replacing a file drops the victim's handle; replacing a non-empty directory is refused.
        Assert.True((await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "c"), Loc.Child(a.Gfid, "f"), RenameFlags.None)).Ok);
        Assert.False(File.Exists(b.HandlePath(f.Gfid)));
        var e = await b.MkdirOk(Gfid.Root, "e");
        Assert.Equal(Errno.ENOTEMPTY, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "e"), Loc.Child(Gfid.Root, "g"), RenameFlags.None)).Error);
        var empty = await b.MkdirOk(Gfid.Root, "empty");
        var over = await b.MkdirOk(Gfid.Root, "over");
        Assert.True((await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "over"), Loc.Child(Gfid.Root, "empty"), RenameFlags.None)).Ok);
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(empty.Gfid))).Error);
        Assert.Equal(over.Gfid, (await b.LookupOk(Gfid.Root, "empty")).Gfid);

        await b.RestartAsync(); // directories are found by GFID through their updated records
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(a.Gfid))).Ok);
        Assert.Equal(g.Gfid, (await b.LookupOk(a.Gfid, "f")).Gfid);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(c.Gfid))).Ok);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(e.Gfid))).Ok);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(over.Gfid))).Ok);
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(empty.Gfid))).Error);
    }

    [PosixFact]
    public async Task Readdir_offsets_resume_across_calls_and_include_dot_entries()
    {
        await using var b = await PosixBrick.StartAsync();
        var d = await b.MkdirOk(Gfid.Root, "d");
        var expected = new List<string> { ".", ".." };
        for (int i = 0; i < 300; i++)
        {
            var n = "file-" + i;
            (await b.CreateOk(d.Gfid, n)).Fd.Unref();
            expected.Add(n);
        }
        var small = await b.ReaddirAll(d.Gfid, plus: false, batch: 7);
        Assert.Equal(expected.Order(StringComparer.Ordinal), small.Select(e => e.Name).Order(StringComparer.Ordinal));
        var plus = await b.ReaddirAll(d.Gfid, plus: true, batch: 13);
        Assert.Equal(expected.Count, plus.Count);
        Assert.All(plus, e => Assert.NotNull(e.Iatt));
        Assert.Equal(d.Gfid, plus.Single(e => e.Name == ".").Gfid);
        Assert.True(plus.Single(e => e.Name == "..").Gfid.IsRoot);
        var f7 = plus.Single(e => e.Name == "file-7");
        Assert.Equal((await b.LookupOk(d.Gfid, "file-7")).Gfid, f7.Gfid);
        Assert.Equal(FileMode.S_IFREG, f7.Type);

        // A cookie from one call resumes a later call on the same fd, after other reads moved it.
        var fd = b.NewFd(d.Gfid, FileMode.S_IFDIR, 0);
        Assert.Equal(Errno.OK, await b.Xl.OpendirAsync(Root, Loc.Nameless(d.Gfid), fd));
        var first = (await b.Xl.ReaddirAsync(Root, fd, 0, 10)).Value;
        var next = (await b.Xl.ReaddirAsync(Root, fd, first[4].NextOffset, 3)).Value;
        Assert.Equal(first[5].Name, next[0].Name);
        Assert.Equal(first[7].Name, next[2].Name);
        Assert.Equal(Errno.OK, await b.Xl.FsyncdirAsync(Root, fd, dataOnly: false));
        await b.Release(fd);
        Assert.Equal(Errno.EBADF, (await b.Xl.ReaddirAsync(Root, fd, 0, 10)).Error);
    }

    [PosixFact]
    public async Task Locks_conflict_between_fds_and_release_on_unlock()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd1) = await b.CreateOk(Gfid.Root, "f");
        var fd2 = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDWR);
        var wr = new FileLock { Type = LockType.Write, Start = 0, Length = 100 };
        Assert.True((await b.Xl.LkAsync(Root, fd1, LockCmd.SetLk, wr)).Ok);
        var probe = await b.Xl.LkAsync(Root, fd2, LockCmd.GetLk, new FileLock { Type = LockType.Write, Start = 50, Length = 10 });
        Assert.Equal(LockType.Write, probe.Value.Type);
        Assert.Equal(Errno.EAGAIN, (await b.Xl.LkAsync(Root, fd2, LockCmd.SetLk, new FileLock { Type = LockType.Read, Start = 0, Length = 1 })).Error);
        var waiter = b.Xl.LkAsync(Root, fd2, LockCmd.SetLkW, new FileLock { Type = LockType.Write, Start = 0, Length = 1 }).AsTask();
        Assert.False(waiter.IsCompleted);
        Assert.True((await b.Xl.LkAsync(Root, fd1, LockCmd.SetLk, new FileLock { Type = LockType.Unlock, Start = 0, Length = 100 })).Ok);
        Assert.True((await waiter.WaitAsync(TimeSpan.FromSeconds(10))).Ok);
        Assert.Equal(Errno.OK, await b.Xl.FlushAsync(Root, fd1));
        Assert.Equal(Errno.OK, await b.Xl.FsyncAsync(Root, fd1, dataOnly: true));
        Assert.Equal(Errno.OK, await b.Xl.FsyncAsync(Root, fd1, dataOnly: false));
        await b.Release(fd1); await b.Release(fd2);
    }

    private static int OpenFdsOf(PosixBrick b) => b.Xl.OpenFdCount;

    [PosixFact]
    public async Task Append_fds_write_at_the_end_and_release_closes_the_os_fd()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "abc");
        var app = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        await b.WriteOk(app, "def", 0);
        Assert.Equal("abcdef", await b.ReadAll(fd));
        Assert.Equal(2, OpenFdsOf(b));
        await b.Release(app);
        Assert.Equal(1, OpenFdsOf(b));
        Assert.Equal(Errno.EBADF, (await b.Xl.FstatAsync(Root, app)).Error);
        await b.Release(fd);
    }
}
