using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Graft.Core;
using FileMode = System.IO.FileMode;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>Ordinary files and directories work through a real /dev/fuse mount of MemoryFs.</summary>
public class FileOperationsThroughMount
{
    [FuseFact]
    public async Task Create_write_read_stat_rename_and_unlink_with_System_IO()
    {
        using var m = await TestMount.StartAsync();
        await m.Io(() =>
        {
            File.WriteAllText(m.P("hello.txt"), "hello world");
            Assert.Equal("hello world", File.ReadAllText(m.P("hello.txt")));
            File.AppendAllText(m.P("hello.txt"), "!");
            var info = new FileInfo(m.P("hello.txt"));
            Assert.Equal(12, info.Length);
            Assert.True(info.Exists);

            Directory.CreateDirectory(m.P("sub"));
            File.Move(m.P("hello.txt"), m.P("sub/renamed.txt"));
            Assert.False(File.Exists(m.P("hello.txt")));
            Assert.Equal("hello world!", File.ReadAllText(m.P("sub/renamed.txt")));
            Assert.Equal(["renamed.txt"], Directory.GetFiles(m.P("sub")).Select(Path.GetFileName));

            File.Delete(m.P("sub/renamed.txt"));
            Assert.Empty(Directory.GetFiles(m.P("sub")));
            Directory.Delete(m.P("sub"));
            Assert.False(Directory.Exists(m.P("sub")));
        });
    }

    [FuseFact]
    public async Task Shell_tools_see_what_System_IO_wrote()
    {
        using var m = await TestMount.StartAsync();
        await m.Io(() => File.WriteAllText(m.P("a"), "abc\n"));
        var (code, output) = await TestMount.Sh($"cd '{m.Dir}' && cat a && echo xyz > b && ls && stat -c '%s %F' b && mv b c && ls && rm a c && ls | wc -l");
        Assert.Equal(0, code);
        Assert.Equal("abc\na\nb\n4 regular file\na\nc\n0\n", output);
    }

    [FuseFact]
    public async Task Large_files_round_trip_through_1_MiB_requests()
    {
        using var m = await TestMount.StartAsync();
        Assert.Equal(1024u * 1024, m.Session.Connection.MaxWrite);
        Assert.True(m.Session.Connection.Has(FuseInitFlags.MaxPages | FuseInitFlags.BigWrites | FuseInitFlags.AsyncRead));
        Assert.False(m.Session.Connection.Has(FuseInitFlags.PosixLocks));
        Assert.False(m.Session.Connection.Has(FuseInitFlags.WritebackCache));
        var data = new byte[3 * 1024 * 1024 + 12345];
        new Random(42).NextBytes(data);
        await m.Io(() =>
        {
            using (var f = new FileStream(m.P("big"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
                f.Write(data);
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(File.ReadAllBytes(m.P("big"))));
            // O_TRUNC through OPEN (ATOMIC_O_TRUNC) empties the file.
            using (new FileStream(m.P("big"), FileMode.Truncate)) { }
            Assert.Equal(0, new FileInfo(m.P("big")).Length);
        });
    }

    [FuseFact]
    public async Task Symlinks_hard_links_fifos_and_rename_noreplace()
    {
        using var m = await TestMount.StartAsync();
        var (code, output) = await TestMount.Sh(
            $"cd '{m.Dir}' && echo x > f && ln -s f s && readlink s && cat s && ln f h && stat -c %h f && mkfifo p && stat -c %F p");
        Assert.Equal(0, code);
        Assert.Equal("f\nx\n2\nfifo\n", output);
        await m.Io(() =>
        {
            File.WriteAllText(m.P("g"), "y");
            Assert.Equal(-1, Native.renameat2(Native.AT_FDCWD, m.P("g"), Native.AT_FDCWD, m.P("f"), 1 /* NOREPLACE */));
            Assert.Equal(Errno.EEXIST, (Errno)Native.Errno);
            Assert.Equal(0, Native.renameat2(Native.AT_FDCWD, m.P("g"), Native.AT_FDCWD, m.P("f"), 2 /* EXCHANGE */));
            Assert.Equal("y", File.ReadAllText(m.P("f")));
            Assert.Equal("x\n", File.ReadAllText(m.P("g")));
        });
    }

    [FuseFact]
    public async Task Xattr_size_query_then_value_and_ERANGE_when_too_small()
    {
        using var m = await TestMount.StartAsync();
        await m.Io(() =>
        {
            File.WriteAllText(m.P("x"), "");
            var value = "some value"u8.ToArray();
            Assert.Equal(0, Native.lsetxattr(m.P("x"), "user.k", value, (nuint)value.Length, 0));
            Assert.Equal(value.Length, (int)Native.lgetxattr(m.P("x"), "user.k", default, 0));
            var buf = new byte[64];
            int n = (int)Native.lgetxattr(m.P("x"), "user.k", buf, (nuint)buf.Length);
            Assert.Equal(value, buf[..n]);
            Assert.Equal(-1, (int)Native.lgetxattr(m.P("x"), "user.k", buf, 3));
            Assert.Equal(Errno.ERANGE, (Errno)Native.Errno);
        });
    }

    [FuseFact]
    public async Task Statfs_reports_what_the_filesystem_answered()
    {
        using var m = await TestMount.StartAsync();
        var (code, output) = await TestMount.Sh($"stat -f -c '%S %b %l' '{m.Dir}'");
        Assert.Equal(0, code);
        Assert.Equal("4096 1048576 255\n", output);
    }
}

/// <summary>A directory larger than one READDIR reply is listed completely, each name once.</summary>
public class DirectoryListingAcrossReaddirCalls
{
    [FuseFact]
    public async Task A_listing_spanning_many_READDIR_calls_is_complete()
    {
        using var m = await TestMount.StartAsync();
        var names = Enumerable.Range(0, 1000).Select(i => $"entry-with-a-longish-name-{i:D5}").ToHashSet();
        await m.Io(() => { foreach (var n in names) File.WriteAllBytes(m.P(n), []); }, 60);
        int before = m.Fs.ReadDirCalls;
        var listed = await m.Io(() => Directory.GetFiles(m.Dir).Select(p => Path.GetFileName(p)!).ToList());
        Assert.Equal(names.Count, listed.Count);
        Assert.True(names.SetEquals(listed));
        Assert.True(m.Fs.ReadDirCalls - before > 1, $"only {m.Fs.ReadDirCalls - before} READDIR calls");
        var (code, output) = await TestMount.Sh($"ls -l '{m.Dir}' | grep -c entry-with");
        Assert.Equal(0, code);
        Assert.Equal("1000\n", output);
    }
}
