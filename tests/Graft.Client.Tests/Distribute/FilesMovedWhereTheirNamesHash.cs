using System.Text;
using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// A rebalance's move of one file (distribute's migrate, asked by name): after add-brick and fix-layout,
/// a file whose name now hashes to another brick goes there whole — data, GFID, mode, owner, times,
/// xattrs, holes — and what cannot be moved safely (open for writing, hard links) stays and says why.
/// </summary>
public class FilesMovedWhereTheirNamesHash
{
    /// <summary>Two bricks with files in /d, then a third brick and a fix-layout of /d: names that now hash to it.</summary>
    private static async Task<(DistributedVolume V, List<string> Moving)> GrownAsync(int files = 40)
    {
        var v = await DistributedVolume.CreateAsync(2);
        await v.Volume.CreateDirectoryAsync("/d");
        for (int i = 0; i < files; i++) await v.Volume.WriteAllBytesAsync($"/d/f{i}", Encoding.UTF8.GetBytes($"file {i}"));
        await v.AddBrickAsync();
        await v.Volume.SetXattrAsync("/d", DistributeTranslator.FixLayoutKey, ReadOnlyMemory<byte>.Empty);
        var layout = v.LayoutOf("/d");
        var moving = Enumerable.Range(0, files).Select(i => $"f{i}").Where(n => layout.Search(DhtHash.OfName(n)) == 2).ToList();
        Assert.NotEmpty(moving);
        return (v, moving);
    }

    internal static async Task<Errno> MigrateAsync(Volume v, string dir, string name)
    {
        try
        {
            await v.SetXattrAsync(dir, DistributeTranslator.MigrateKey, Encoding.UTF8.GetBytes(name));
            return Errno.OK;
        }
        catch (GraftIOException e) { return e.Errno; }
    }

    [Fact]
    public async Task A_moved_file_keeps_its_data_gfid_mode_owner_times_xattrs_and_holes()
    {
        var (v, moving) = await GrownAsync();
        await using var _ = v;
        var name = moving[0];
        var path = "/d/" + name;
        // Make it sparse (data, a 3 MiB hole, data), owned by someone else, with a mode, times and xattrs of its own.
        await using (var s = await v.Volume.OpenAsync(path, OpenFlags.O_WRONLY))
        {
            await s.WriteAsync(new byte[] { 7, 7, 7 }.AsMemory());
            s.Position = 3 << 20;
            await s.WriteAsync(Encoding.UTF8.GetBytes("tail").AsMemory());
        }
        await v.Volume.SetXattrAsync(path, "user.colour", "blue"u8.ToArray());
        await v.Volume.SetXattrAsync(path, "trusted.app", "x"u8.ToArray());
        await v.Volume.ChownAsync(path, 1234, 5678);
        await v.Volume.ChmodAsync(path, 0x1A0 /* 0640 */);
        var mtime = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        await v.Volume.SetTimesAsync(path, new DateTime(2021, 6, 7, 8, 9, 10, DateTimeKind.Utc), mtime);
        var data = await v.Volume.ReadAllBytesAsync(path);
        var before = await v.Volume.StatAsync(path);
        int src = v.DataBricks(path).Single();

        Assert.Equal(Errno.OK, await MigrateAsync(v.Volume, "/d", name));

        Assert.Equal([2], v.DataBricks(path));
        Assert.False(File.Exists(v.On(src, path)), "the old copy is still there");
        var after = await v.Volume.StatAsync(path);
        Assert.Equal(before.Gfid, after.Gfid);
        Assert.Equal(before.Mode, after.Mode);
        Assert.Equal((1234u, 5678u), (after.Uid, after.Gid));
        Assert.Equal(before.Mtime, after.Mtime);
        Assert.Equal(before.Atime, after.Atime);
        Assert.Equal(before.Size, after.Size);
        Assert.Equal(data, await v.Volume.ReadAllBytesAsync(path));
        Assert.Equal("blue"u8.ToArray(), await v.Volume.GetXattrAsync(path, "user.colour"));
        Assert.Equal("x"u8.ToArray(), await v.Volume.GetXattrAsync(path, "trusted.app"));
        Assert.Null(Xattr.Get(v.On(2, path), Linkfile.Xattr));
        Assert.Null(Xattr.Get(v.On(2, path), "trusted.graft.dht.migrated"));
        // The hole stayed a hole: far fewer blocks than the size.
        var st = new FileInfo(v.On(2, path));
        Assert.True(Blocks(v.On(2, path)) * 512 < st.Length / 2, $"{Blocks(v.On(2, path))} blocks for {st.Length} bytes");
        Assert.Equal(1, v.Dht.FilesMoved);
    }

    [Fact]
    public async Task A_file_open_for_writing_stays_and_one_open_for_reading_moves_and_still_reads()
    {
        var (v, moving) = await GrownAsync();
        await using var _ = v;
        Assert.True(moving.Count >= 2);
        await using var writer = await v.Volume.OpenAsync("/d/" + moving[0], OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        await using var reader = await v.Volume.OpenAsync("/d/" + moving[1], OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EBUSY, await MigrateAsync(v.Volume, "/d", moving[0]));
        Assert.Equal(Errno.OK, await MigrateAsync(v.Volume, "/d", moving[1]));
        await writer.WriteAsync(" more"u8.ToArray());
        var buf = new byte[64];
        int n = await reader.ReadAsync(buf);
        Assert.Equal($"file {moving[1][1..]}", Encoding.UTF8.GetString(buf, 0, n));
        Assert.NotEqual([2], v.DataBricks("/d/" + moving[0]));
        Assert.Equal([2], v.DataBricks("/d/" + moving[1]));
        // Closed, it moves; and the old copy the reader held is not found by GFID any more.
        await writer.DisposeAsync();
        Assert.Equal(Errno.OK, await MigrateAsync(v.Volume, "/d", moving[0]));
        Assert.Equal(Encoding.UTF8.GetBytes($"file {moving[0][1..]} more"), await v.Volume.ReadAllBytesAsync("/d/" + moving[0]));
    }

    [Fact]
    public async Task Hard_links_and_files_already_in_place_are_left_and_said_so()
    {
        var (v, moving) = await GrownAsync();
        await using var _ = v;
        await v.Volume.LinkAsync("/d/" + moving[0], "/d/second-name");
        Assert.Equal(Errno.EMLINK, await MigrateAsync(v.Volume, "/d", moving[0]));
        Assert.NotEqual([2], v.DataBricks("/d/" + moving[0]));
        Assert.Equal(Errno.OK, await MigrateAsync(v.Volume, "/d", moving[1]));
        Assert.Equal(Errno.EALREADY, await MigrateAsync(v.Volume, "/d", moving[1]));
        var layout = v.LayoutOf("/d");
        var staying = Enumerable.Range(0, 40).Select(i => $"f{i}").First(n => layout.Search(DhtHash.OfName(n)) != 2);
        Assert.Equal(Errno.EALREADY, await MigrateAsync(v.Volume, "/d", staying));
        Assert.Equal(Errno.ENOENT, await MigrateAsync(v.Volume, "/d", "no-such-file"));
    }

    [Fact]
    public async Task Every_file_listed_once_after_all_moved_and_no_pointer_or_mark_is_left()
    {
        var (v, _) = await GrownAsync(60);
        await using var __ = v;
        // fix-layout changed every brick's range: files move between the old bricks too.
        var layout = v.LayoutOf("/d");
        foreach (var n in Enumerable.Range(0, 60).Select(i => $"f{i}"))
            Assert.Contains(await MigrateAsync(v.Volume, "/d", n), new[] { Errno.OK, Errno.EALREADY });
        var listed = (await v.Volume.ListDirectoryAsync("/d")).Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, 60).Select(i => $"f{i}").Order(StringComparer.Ordinal), listed);
        for (int i = 0; i < 60; i++) Assert.Equal(Encoding.UTF8.GetBytes($"file {i}"), await v.Volume.ReadAllBytesAsync($"/d/f{i}"));
        for (int b = 0; b < 3; b++)
            foreach (var f in Directory.GetFiles(v.On(b, "/d")))
            {
                Assert.Equal(b, layout.Search(DhtHash.OfName(Path.GetFileName(f))));
                Assert.False(DistributedVolume.IsPointer(f), $"{f} is a pointer");
                Assert.Null(Xattr.Get(f, "trusted.graft.dht.migrated"));
            }
    }

    private static long Blocks(string path)
    {
        var r = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true })!;
        var text = r.StandardOutput.ReadToEnd();
        r.WaitForExit();
        return long.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
