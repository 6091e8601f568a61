using System.Text;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// Ordinary file APIs and shell tools through a real mount (`graft up`: a brick process, protocol/client
/// over loopback, default options: attribute and entry caches of 1 s). Every attribute checked right after
/// a change is one the kernel caches, so a stale cache would show here.
/// </summary>
public class FileOperationsThroughAMount(VolumeFixture fx) : FileOperationsBattery(fx), IClassFixture<VolumeFixture>;

/// <summary>The same battery through a mount of three bricks under cluster/distribute.</summary>
public class FileOperationsThroughADistributedMount(DistributedVolumeFixture fx) : FileOperationsBattery(fx), IClassFixture<DistributedVolumeFixture>;

/// <summary>POSIX checks any mounted volume must pass, whatever its graph: run by one class per kind of volume.</summary>
public abstract class FileOperationsBattery(IMountUnderTest fx)
{
    static async Task<string> Sh(string script) => (await Proc.Sh(script)).Ok(script).Out.Trim();

    [MountFact]
    public async Task Create_read_write_and_append()
    {
        var f = Path.Combine(fx.NewDir("rw"), "f");
        await File.WriteAllTextAsync(f, "abc");
        await File.AppendAllTextAsync(f, "def");
        Assert.Equal("abcdef", await File.ReadAllTextAsync(f));
        await using (var s = new FileStream(f, FileMode.Open, FileAccess.ReadWrite))
        {
            s.Position = 1;
            s.Write("X"u8);
        }
        Assert.Equal("aXcdef", await File.ReadAllTextAsync(f));
        Assert.Equal("aXcdefghi", await Sh($"echo ghi >> '{f}' && cat '{f}'"));
        Assert.Equal(10, new FileInfo(f).Length);
    }

    [MountFact]
    public async Task O_EXCL_refuses_an_existing_name_and_O_TRUNC_empties_the_file()
    {
        var f = Path.Combine(fx.NewDir("excl"), "f");
        int fd = Sys.open(f, Sys.O_WRONLY | Sys.O_CREAT | Sys.O_EXCL, 420);
        Assert.True(fd >= 0, $"first O_EXCL create failed: {Sys.Errno}");
        Sys.close(fd);
        Assert.Equal(-1, Sys.open(f, Sys.O_WRONLY | Sys.O_CREAT | Sys.O_EXCL, 420));
        Assert.Equal(17, Sys.Errno); // EEXIST
        await File.WriteAllTextAsync(f, "some data");
        Assert.Equal(9, new FileInfo(f).Length);
        fd = Sys.open(f, Sys.O_WRONLY | Sys.O_TRUNC, 0);
        Assert.True(fd >= 0);
        Sys.close(fd);
        Assert.Equal(0, new FileInfo(f).Length);
        Assert.Equal("", await File.ReadAllTextAsync(f));
    }

    [MountFact]
    public async Task Truncate_is_seen_at_once_through_another_fd_and_by_path()
    {
        var f = Path.Combine(fx.NewDir("trunc"), "f");
        await using var a = new FileStream(f, FileMode.CreateNew, FileAccess.ReadWrite);
        a.Write(Enumerable.Repeat((byte)'x', 10000).ToArray());
        a.Flush();
        Assert.Equal(10000, new FileInfo(f).Length);
        await using (var b = new FileStream(f, FileMode.Open, FileAccess.ReadWrite)) b.SetLength(100);
        Assert.Equal(100, new FileInfo(f).Length);   // by path: the kernel's cached size was updated
        Assert.Equal(100, a.Length);                  // through the first fd (fstat)
        Assert.Equal("5000", await Sh($"truncate -s 5000 '{f}' && stat -c %s '{f}'"));
        var bytes = await File.ReadAllBytesAsync(f);
        Assert.Equal(5000, bytes.Length);
        Assert.All(bytes[..100], b => Assert.Equal((byte)'x', b));
        Assert.All(bytes[100..], b => Assert.Equal(0, b));
    }

    [MountFact]
    public async Task Sparse_files_and_offsets_beyond_4GiB()
    {
        var f = Path.Combine(fx.NewDir("sparse"), "f");
        const long at = 5L << 30; // 5 GiB: beyond any 32-bit offset
        await using (var s = new FileStream(f, FileMode.CreateNew, FileAccess.Write))
        {
            s.Position = at;
            s.Write("tail"u8);
        }
        Assert.Equal(at + 4, new FileInfo(f).Length);
        await using (var s = new FileStream(f, FileMode.Open, FileAccess.Read))
        {
            var buf = new byte[4];
            s.Position = at;
            Assert.Equal(4, s.Read(buf));
            Assert.Equal("tail", Encoding.ASCII.GetString(buf));
            s.Position = 3L << 30; // in the hole
            Assert.Equal(4, s.Read(buf));
            Assert.Equal(new byte[4], buf);
        }
        var blocks = long.Parse(await Sh($"stat -c %b '{f}'"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(blocks < 2048, $"a 5 GiB sparse file with 4 bytes written uses {blocks} blocks");
        Assert.Equal("tail", await Sh($"tail -c 4 '{f}'"));
    }

    [MountFact]
    public async Task Rename_replaces_a_file_moves_directories_and_honours_NOREPLACE()
    {
        var d = fx.NewDir("rename");
        string P(string n) => Path.Combine(d, n);
        await File.WriteAllTextAsync(P("a"), "A");
        await File.WriteAllTextAsync(P("b"), "B");
        File.Move(P("a"), P("b"), overwrite: true);
        Assert.False(File.Exists(P("a")));
        Assert.Equal("A", await File.ReadAllTextAsync(P("b")));

        Directory.CreateDirectory(P("dir/sub"));
        await File.WriteAllTextAsync(P("dir/sub/x"), "x");
        Directory.CreateDirectory(P("other"));
        Directory.Move(P("dir"), P("other/moved"));
        Assert.Equal("x", await File.ReadAllTextAsync(P("other/moved/sub/x")));
        Assert.False(Directory.Exists(P("dir")));
        // A directory over an empty directory, and not over a non-empty one.
        Directory.CreateDirectory(P("empty"));
        Assert.Equal("", await Sh($"mv -T '{P("other/moved")}' '{P("empty")}' && ls '{P("other")}'"));
        Assert.Equal("x", await File.ReadAllTextAsync(P("empty/sub/x")));
        var notEmpty = await Proc.Sh($"mkdir '{P("full")}' && touch '{P("full/y")}' && mv -T '{P("empty")}' '{P("full")}'");
        Assert.NotEqual(0, notEmpty.Code);
        Assert.Contains("not empty", notEmpty.Err);

        await File.WriteAllTextAsync(P("c"), "C");
        Assert.Equal(-1, Sys.renameat2(Sys.AT_FDCWD, P("c"), Sys.AT_FDCWD, P("b"), Sys.RENAME_NOREPLACE));
        Assert.Equal(17, Sys.Errno); // EEXIST, and nothing moved
        Assert.Equal("A", await File.ReadAllTextAsync(P("b")));
        Assert.Equal(0, Sys.renameat2(Sys.AT_FDCWD, P("c"), Sys.AT_FDCWD, P("c2"), Sys.RENAME_NOREPLACE));
        Assert.Equal("C", await File.ReadAllTextAsync(P("c2")));
    }

    [MountFact]
    public async Task Links_change_nlink_at_once_and_symlinks_read_back()
    {
        var d = fx.NewDir("links");
        var f = Path.Combine(d, "f");
        await File.WriteAllTextAsync(f, "data");
        Assert.Equal("1", await Sh($"stat -c %h '{f}'"));
        Assert.Equal("2 2", await Sh($"ln '{f}' '{d}/g' && stat -c %h '{f}' | tr '\\n' ' ' && stat -c %h '{d}/g'"));
        Assert.Equal("data", await File.ReadAllTextAsync(Path.Combine(d, "g")));
        Assert.Equal("1", await Sh($"rm '{d}/g' && stat -c %h '{f}'"));

        File.CreateSymbolicLink(Path.Combine(d, "s"), "f");
        Assert.Equal("f", await Sh($"readlink '{d}/s'"));
        Assert.Equal("data", await File.ReadAllTextAsync(Path.Combine(d, "s")));
        Assert.Equal("f", new FileInfo(Path.Combine(d, "s")).LinkTarget);
        Assert.Equal("symbolic link", await Sh($"stat -c %F '{d}/s'"));
        File.CreateSymbolicLink(Path.Combine(d, "dangling"), "no/such/target");
        Assert.Equal("no/such/target", await Sh($"readlink '{d}/dangling'"));
    }

    [MountFact]
    public async Task Chmod_chown_and_utimes_are_seen_at_once()
    {
        var f = Path.Combine(fx.NewDir("attrs"), "f");
        await File.WriteAllTextAsync(f, "x");
        var before = await Sh($"stat -c '%a %.9Z' '{f}'");
        var ctime0 = decimal.Parse(await Sh($"stat -c %.9Z '{f}'"), System.Globalization.CultureInfo.InvariantCulture);
        // The brick's file system stamps ctime from the kernel's coarse clock, up to a tick (4-10 ms)
        // behind the wall clock: wait (bounded) until the wall clock is well past the first ctime, so
        // a chmod's ctime must be later than it.
        await Proc.Until(() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000m > ctime0 + 0.05m, "the clock to pass the file's ctime", 5);
        Assert.Equal("640", await Sh($"chmod 640 '{f}' && stat -c %a '{f}'"));
        var ctime1 = decimal.Parse(await Sh($"stat -c %.9Z '{f}'"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ctime1 > ctime0, $"ctime did not move on chmod ({before} → {ctime1})");
        Assert.Equal("-rw-r-----", await Sh($"stat -c %A '{f}'"));

        Assert.Equal("4242:4243", await Sh($"chown 4242:4243 '{f}' && stat -c %u:%g '{f}'"));
        Assert.Equal("978494706", await Sh($"touch -m -d '2001-01-03 04:05:06 UTC' '{f}' && stat -c %Y '{f}'"));
        Assert.Equal("1000000000", await Sh($"touch -a -d @1000000000 '{f}' && stat -c %X '{f}'"));
        Assert.Equal(new DateTime(2001, 1, 3, 4, 5, 6, DateTimeKind.Utc), File.GetLastWriteTimeUtc(f));
    }

    [MountFact]
    public async Task Extended_attributes_are_set_listed_read_and_removed()
    {
        var f = Path.Combine(fx.NewDir("xattr"), "f");
        await File.WriteAllTextAsync(f, "x");
        await Sh($"setfattr -n user.color -v blue '{f}' && setfattr -n user.size -v 42 '{f}'");
        Assert.Equal("blue", await Sh($"getfattr --only-values -n user.color '{f}'"));
        var all = await Sh($"getfattr -d '{f}'");
        Assert.Contains("user.color=\"blue\"", all);
        Assert.Contains("user.size=\"42\"", all);
        await Sh($"setfattr -x user.color '{f}'");
        var gone = await Proc.Sh($"getfattr -n user.color '{f}'");
        Assert.NotEqual(0, gone.Code);
        Assert.Contains("No such attribute", gone.Err);
        Assert.DoesNotContain("color", await Sh($"getfattr -d '{f}'"));
        // The brick's own xattrs (GFIDs) are never shown.
        Assert.DoesNotContain("graft", await Sh($"getfattr -d -m - '{f}' | grep -v '^#'"));
    }

    [MountFact]
    public async Task Statfs_reports_the_brick_filesystem()
    {
        // A volume is the sum of its bricks (here all on one filesystem, so counted once per brick).
        var mnt = (await Sh($"stat -f -c '%S %b %c' '{fx.Mnt}'")).Split(' ');
        var brick = (await Sh($"stat -f -c '%S %b %c' '{fx.BrickDirs[0]}'")).Split(' ');
        static long L(string s) => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        long Bytes(string[] s) => L(s[0]) * L(s[1]);
        Assert.Equal(Bytes(brick) * fx.BrickDirs.Count, Bytes(mnt));   // same total size
        Assert.Equal(L(brick[2]) * fx.BrickDirs.Count, L(mnt[2]));     // same total inodes
        Assert.Contains(fx.Mnt, await Sh($"df -P '{fx.Mnt}'"));
    }

    [MountFact]
    public async Task Mknod_makes_a_FIFO_that_carries_data()
    {
        var p = Path.Combine(fx.NewDir("fifo"), "p");
        Assert.Equal("fifo", await Sh($"mkfifo '{p}' && stat -c %F '{p}'"));
        Assert.Equal("through the pipe", await Sh($"(echo 'through the pipe' > '{p}' &) && timeout 20 cat '{p}'"));
    }

    [MountFact]
    public async Task A_directory_of_10000_entries_is_listed_completely()
    {
        var d = fx.NewDir("big");
        // Four creators at once: the kernel sends CREATEs in parallel (PARALLEL_DIROPS).
        await Sh($"cd '{d}' && seq 0 9999 | sed 's/^/entry-/' | xargs -P 4 -n 500 touch");
        var names = Directory.EnumerateFileSystemEntries(d).Select(Path.GetFileName).ToHashSet();
        Assert.Equal(10000, names.Count);
        for (int i = 0; i < 10000; i++) Assert.Contains($"entry-{i}", names);
        Assert.Equal("10000", await Sh($"ls -f '{d}' | grep -c '^entry-'"));   // readdir, not readdirplus
        Assert.Equal("10000", await Sh($"find '{d}' -type f | wc -l"));
    }

    [MountFact]
    public async Task Names_of_255_bytes_work_and_longer_ones_are_refused()
    {
        var d = fx.NewDir("names");
        var ascii = new string('n', 255);
        var utf8 = string.Concat(Enumerable.Repeat("é", 127)) + "x"; // 254 + 1 = 255 bytes
        Assert.Equal(255, Encoding.UTF8.GetByteCount(utf8));
        foreach (var name in new[] { ascii, utf8 })
        {
            await File.WriteAllTextAsync(Path.Combine(d, name), name[..3]);
            Assert.Equal(name[..3], await File.ReadAllTextAsync(Path.Combine(d, name)));
        }
        var listed = Directory.EnumerateFiles(d).Select(Path.GetFileName).ToHashSet();
        Assert.Contains(ascii, listed);
        Assert.Contains(utf8, listed);
        var tooLong = await Proc.Sh($"touch '{d}/{new string('n', 256)}'");
        Assert.NotEqual(0, tooLong.Code);
        Assert.Contains("File name too long", tooLong.Err);
    }

    [MountFact]
    public async Task Concurrent_writers_to_one_file_each_land_their_region()
    {
        var f = Path.Combine(fx.NewDir("concurrent"), "f");
        const int writers = 4, region = 4 << 20, chunk = 64 << 10;
        await File.WriteAllBytesAsync(f, []);
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            using var s = new FileStream(f, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            var buf = new byte[chunk];
            Array.Fill(buf, (byte)('A' + w));
            for (int off = 0; off < region; off += chunk)
            {
                s.Position = (long)w * region + off;
                s.Write(buf);
            }
        })).ToArray()).WaitAsync(TimeSpan.FromMinutes(2));
        var all = await File.ReadAllBytesAsync(f);
        Assert.Equal(writers * region, all.Length);
        for (int w = 0; w < writers; w++)
        {
            var want = (byte)('A' + w);
            var slice = all.AsSpan(w * region, region);
            Assert.True(slice.IndexOfAnyExcept(want) < 0, $"writer {w}'s region holds other bytes");
        }
    }

    [MountFact]
    public async Task Renames_between_many_names_and_over_existing_targets_keep_each_file_once()
    {
        // Names spread over every brick of a distributed volume, so these renames cross bricks.
        var d = fx.NewDir("renames");
        string P(string n) => Path.Combine(d, n);
        for (int i = 0; i < 20; i++) await File.WriteAllTextAsync(P($"a{i}"), $"{i}");
        for (int i = 0; i < 20; i++) File.Move(P($"a{i}"), P($"b{i}"));
        for (int i = 0; i < 10; i++) File.Move(P($"b{2 * i}"), P($"b{2 * i + 1}"), overwrite: true);
        var names = Directory.GetFileSystemEntries(d).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"b{2 * i + 1}").Order(StringComparer.Ordinal).ToArray(), names);
        for (int i = 0; i < 10; i++) Assert.Equal($"{2 * i}", await File.ReadAllTextAsync(P($"b{2 * i + 1}")));
        Assert.Equal("10", await Sh($"ls '{d}' | wc -l"));
        // Back over each other with the shell's mv, then a directory full of them renamed.
        Assert.Equal("", await Sh($"cd '{d}' && for i in 1 3 5 7 9; do mv b$i c$i; done && mv c1 c3"));
        Assert.Equal("0", await File.ReadAllTextAsync(P("c3")));
        Directory.CreateDirectory(P("sub"));
        File.Move(P("c3"), P("sub/c3"));
        Directory.Move(P("sub"), P("sub2"));
        Assert.Equal("0", await File.ReadAllTextAsync(P("sub2/c3")));
    }

    [MountFact]
    public async Task An_unlinked_open_file_keeps_its_data_until_closed()
    {
        var f = Path.Combine(fx.NewDir("unlinked"), "f");
        await using (var s = new FileStream(f, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
        {
            s.Write("before|"u8);
            s.Flush();
            File.Delete(f);
            Assert.False(File.Exists(f));
            s.Write("after"u8);
            s.Flush();
            s.Position = 0;
            var buf = new byte[64];
            int n = s.Read(buf);
            Assert.Equal("before|after", Encoding.ASCII.GetString(buf, 0, n));
        }
        Assert.False(File.Exists(f));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(f)!));
    }

    [MountFact]
    public async Task Rmdir_of_a_directory_with_entries_is_ENOTEMPTY_and_of_an_empty_one_works()
    {
        var d = fx.NewDir("rmdir");
        for (int i = 0; i < 8; i++) Directory.CreateDirectory(Path.Combine(d, "full", $"sub{i}"));
        await File.WriteAllTextAsync(Path.Combine(d, "full", "x"), "x");
        var r = await Proc.Sh($"rmdir '{d}/full'");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("not empty", r.Err);
        File.Delete(Path.Combine(d, "full", "x"));
        Assert.NotEqual(0, (await Proc.Sh($"rmdir '{d}/full'")).Code); // its subdirectories are still there
        for (int i = 0; i < 8; i++) Directory.Delete(Path.Combine(d, "full", $"sub{i}"));
        Directory.Delete(Path.Combine(d, "full"));
        Assert.False(Directory.Exists(Path.Combine(d, "full")));
        Assert.Empty(Directory.GetFileSystemEntries(d));
    }

    [MountFact]
    public async Task Many_hard_links_share_one_file()
    {
        var d = fx.NewDir("hardlinks");
        var f = Path.Combine(d, "f");
        await File.WriteAllTextAsync(f, "one");
        for (int i = 0; i < 8; i++) Assert.Equal("", await Sh($"ln '{f}' '{d}/l{i}'"));
        Assert.Equal("9", await Sh($"stat -c %h '{d}/l5'"));
        await File.AppendAllTextAsync(Path.Combine(d, "l3"), "+two");
        for (int i = 0; i < 8; i++) Assert.Equal("one+two", await File.ReadAllTextAsync(Path.Combine(d, $"l{i}")));
        Assert.Equal(9, Directory.GetFileSystemEntries(d).Length);
        File.Delete(f);
        for (int i = 0; i < 7; i++) File.Delete(Path.Combine(d, $"l{i}"));
        Assert.Equal("1", await Sh($"stat -c %h '{d}/l7'"));
        Assert.Equal("one+two", await File.ReadAllTextAsync(Path.Combine(d, "l7")));
    }
}
