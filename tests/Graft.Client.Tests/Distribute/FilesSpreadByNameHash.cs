using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>Each file lives on the one brick whose layout range holds its name's hash, and the bricks share the files evenly.</summary>
public class FilesSpreadByNameHash
{
    [Fact]
    public async Task A_thousand_files_land_each_on_its_hashed_brick_within_25_percent_of_the_mean()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        for (int i = 0; i < 1000; i++) await v.Volume.WriteAllBytesAsync($"/d/file-{i:D4}", BitConverter.GetBytes(i));
        var layout = v.LayoutOf("/d");
        Assert.True(layout.Complete && layout.Settled, layout.ToString());
        var perBrick = new int[3];
        for (int i = 0; i < 1000; i++)
        {
            var name = $"file-{i:D4}";
            var on = v.DataBricks("/d/" + name);
            Assert.Equal([layout.Search(DhtHash.OfName(name))], on);
            perBrick[on[0]]++;
        }
        foreach (var n in perBrick) Assert.InRange(n, 1000 / 3.0 * 0.75, 1000 / 3.0 * 1.25);
        for (int i = 0; i < 1000; i += 97) Assert.Equal(i, BitConverter.ToInt32(await v.Volume.ReadAllBytesAsync($"/d/file-{i:D4}")));
        Assert.Equal(1000, (await v.Volume.ListDirectoryAsync("/d")).Count(e => e.Name.StartsWith("file-", StringComparison.Ordinal)));
    }
}

/// <summary>A directory is made on every brick with one GFID and a whole, settled layout; it goes from every brick.</summary>
public class DirectoriesLiveOnEveryBrick
{
    [Fact]
    public async Task Mkdir_makes_every_copy_with_one_gfid_and_a_settled_layout_and_rmdir_removes_them_all()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        var made = await v.Volume.MkdirAsync("/a", 0x1ED);
        await v.Volume.CreateDirectoryAsync("/a/b/c");
        foreach (var dir in new[] { "/a", "/a/b", "/a/b/c" })
        {
            var gfids = Enumerable.Range(0, 3).Select(i => Convert.ToHexString(Xattr.Get(v.On(i, dir), "trusted.graft.gfid")!)).Distinct().ToList();
            Assert.Single(gfids);
            var layout = v.LayoutOf(dir);
            Assert.True(layout.Complete && layout.Settled, $"{dir}: {layout}");
            Assert.All(Enumerable.Range(0, 3), i => Assert.True(layout.HasRange(i)));
        }
        Assert.Equal(made.Gfid.ToBytes(), Xattr.Get(v.On(2, "/a"), "trusted.graft.gfid"));
        Assert.Equal(0x1ED, (int)((await v.Volume.StatAsync("/a")).Mode & 0xFFF));
        await v.Volume.DeleteDirectoryAsync("/a/b/c");
        Assert.All(Enumerable.Range(0, 3), i => Assert.False(Directory.Exists(v.On(i, "/a/b/c"))));
    }

    [Fact]
    public async Task Rmdir_of_a_directory_with_a_file_on_one_brick_is_ENOTEMPTY_and_removes_nothing()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/full");
        await v.Volume.WriteAllBytesAsync("/full/only", new byte[] { 1 });
        await Errors.ThrowsErrno(Errno.ENOTEMPTY, () => v.Volume.DeleteDirectoryAsync("/full"));
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(Directory.Exists(v.On(i, "/full"))));
        await v.Volume.DeleteFileAsync("/full/only");
        await v.Volume.DeleteDirectoryAsync("/full");
        Assert.False(await v.Volume.ExistsAsync("/full"));
    }

    [Fact]
    public async Task Chmod_and_xattrs_of_a_directory_reach_every_copy()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/x");
        await v.Volume.ChmodAsync("/x", 0x1C0);
        await v.Volume.SetXattrAsync("/x", "user.tag", "t"u8.ToArray());
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("t", System.Text.Encoding.ASCII.GetString(Xattr.Get(v.On(i, "/x"), "user.tag")!));
            Assert.Equal(0x1C0, (int)(File.GetUnixFileMode(v.On(i, "/x")) & (UnixFileMode)0xFFF));
        }
    }

    [Fact]
    public async Task Statfs_is_the_sum_of_the_bricks()
    {
        await using var one = await DistributedVolume.CreateAsync(1);
        await using var three = await DistributedVolume.CreateAsync(3);
        var a = await one.Volume.StatfsAsync();
        var b = await three.Volume.StatfsAsync();
        // All bricks are directories of one filesystem here: three of them count it three times.
        Assert.InRange((double)b.Blocks / a.Blocks, 2.99, 3.01);
    }
}
