using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// A rename or hard link whose new name hashes to another brick keeps the data where it is and
/// marks the new name's hashed brick with a link pointer; lookups follow it, listings never show
/// it, unlink removes both.
/// </summary>
public class LinkPointers
{
    /// <summary>Two names in <paramref name="dir"/> that hash to different bricks: (name, its brick) each.</summary>
    internal static (string A, int BrickA, string B, int BrickB) TwoBricks(DistributedVolume v, string dir, string prefix = "n")
    {
        var layout = v.LayoutOf(dir);
        var a = prefix + "0";
        int ba = layout.Search(DhtHash.OfName(a));
        for (int i = 1; ; i++)
        {
            var b = prefix + i;
            int bb = layout.Search(DhtHash.OfName(b));
            if (bb != ba) return (a, ba, b, bb);
        }
    }

    [Fact]
    public async Task A_rename_across_bricks_keeps_the_data_in_place_and_leaves_a_pointer()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        var (a, ba, b, bb) = TwoBricks(v, "/d");
        await v.Volume.WriteAllBytesAsync("/d/" + a, "payload"u8.ToArray());
        var before = await v.Volume.StatAsync("/d/" + a);
        await v.Volume.RenameAsync("/d/" + a, "/d/" + b);
        Assert.Equal([ba], v.DataBricks("/d/" + b));
        Assert.True(DistributedVolume.IsPointer(v.On(bb, "/d/" + b)), "no link pointer on the new name's brick");
        Assert.Equal(ba.ToString(), System.Text.Encoding.UTF8.GetString(Xattr.Get(v.On(bb, "/d/" + b), Linkfile.Xattr)!)[1..]);
        Assert.False(await v.Volume.ExistsAsync("/d/" + a));
        Assert.Equal("payload"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/d/" + b));
        Assert.Equal(before.Gfid, (await v.Volume.StatAsync("/d/" + b)).Gfid);
        Assert.Equal([b], (await v.Volume.ListDirectoryAsync("/d")).Select(e => e.Name).Where(n => n is not ("." or "..")));
        await v.Volume.DeleteFileAsync("/d/" + b);
        Assert.All(Enumerable.Range(0, 3), i => Assert.False(File.Exists(v.On(i, "/d/" + b))));
        await v.Volume.DeleteDirectoryAsync("/d");
    }

    [Fact]
    public async Task A_rename_over_a_target_on_another_brick_replaces_it_everywhere()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        var (a, ba, b, bb) = TwoBricks(v, "/d");
        await v.Volume.WriteAllBytesAsync("/d/" + a, "new"u8.ToArray());
        await v.Volume.WriteAllBytesAsync("/d/" + b, "old"u8.ToArray());
        await v.Volume.RenameAsync("/d/" + a, "/d/" + b);
        Assert.Equal("new"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/d/" + b));
        Assert.Equal([ba], v.DataBricks("/d/" + b));
        Assert.Single(await v.Volume.ListDirectoryAsync("/d"), e => e.Name is not ("." or ".."));
        // And back again: the data still does not move, the pointer goes.
        await v.Volume.RenameAsync("/d/" + b, "/d/" + a);
        Assert.Equal([ba], v.DataBricks("/d/" + a));
        Assert.All(Enumerable.Range(0, 3), i => Assert.False(File.Exists(v.On(i, "/d/" + b))));
    }

    [Fact]
    public async Task A_hard_link_on_another_brick_is_a_pointer_to_the_same_inode()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/h");
        var (a, ba, b, bb) = TwoBricks(v, "/h");
        await v.Volume.WriteAllBytesAsync("/h/" + a, "shared"u8.ToArray());
        var st = await v.Volume.LinkAsync("/h/" + a, "/h/" + b);
        Assert.Equal(2u, st.Nlink);
        Assert.True(DistributedVolume.IsPointer(v.On(bb, "/h/" + b)));
        await using (var s = await v.Volume.OpenAsync("/h/" + b, FileMode.Open)) { s.Position = 6; await s.WriteAsync("+"u8.ToArray()); }
        Assert.Equal("shared+"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/h/" + a));
        await v.Volume.DeleteFileAsync("/h/" + a);
        Assert.Equal("shared+"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/h/" + b));
        Assert.Equal(1u, (await v.Volume.StatAsync("/h/" + b)).Nlink);
        await v.Volume.DeleteFileAsync("/h/" + b);
        Assert.All(Enumerable.Range(0, 3), i => Assert.Empty(Directory.GetFileSystemEntries(v.On(i, "/h"))));
    }
}

/// <summary>Renames of many names over each other, across bricks, keep each file once with its own data.</summary>
public class RenamesOverEachOther
{
    [Fact]
    public async Task Chained_renames_over_existing_targets_keep_the_right_data()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        for (int i = 0; i < 20; i++) await v.Volume.WriteAllBytesAsync($"/d/a{i}", System.Text.Encoding.ASCII.GetBytes($"{i}"));
        for (int i = 0; i < 20; i++) await v.Volume.RenameAsync($"/d/a{i}", $"/d/b{i}");
        for (int i = 0; i < 10; i++) await v.Volume.RenameAsync($"/d/b{2 * i}", $"/d/b{2 * i + 1}");
        foreach (var i in new[] { 1, 3, 5, 7, 9 }) await v.Volume.RenameAsync($"/d/b{i}", $"/d/c{i}");
        for (int k = 1; k < 9; k += 2)
        {
            await v.Volume.RenameAsync($"/d/c{k}", $"/d/c{k + 2}");
            Assert.Equal("0", System.Text.Encoding.ASCII.GetString(await v.Volume.ReadAllBytesAsync($"/d/c{k + 2}"))); // c1 held b0's data, carried along the chain
        }
        var names = (await v.Volume.ListDirectoryAsync("/d")).Select(e => e.Name).Where(n => n is not ("." or "..")).Order().ToArray();
        Assert.Equal(new[] { "b11", "b13", "b15", "b17", "b19", "c9" }, names);
    }
}
