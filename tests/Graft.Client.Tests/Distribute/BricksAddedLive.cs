using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// A brick added to a running volume is a new graph with one more subvolume: open streams carry
/// on, directories get their copy on the new brick at their next lookup, and new files in old
/// directories go only where the old layout says until a fix-layout.
/// </summary>
public class BricksAddedLive
{
    [Fact]
    public async Task Open_streams_carry_on_and_old_directories_grow_a_copy_that_takes_no_names()
    {
        await using var v = await DistributedVolume.CreateAsync(2);
        await v.Volume.CreateDirectoryAsync("/old");
        await using var s = await v.Volume.OpenAsync("/old/open", OpenFlags.O_CREAT | OpenFlags.O_RDWR | OpenFlags.O_APPEND);
        await s.WriteAsync("before|"u8.ToArray());
        await v.AddBrickAsync();
        await s.WriteAsync("after"u8.ToArray());
        Assert.Equal("before|after"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/old/open"));
        for (int i = 0; i < 60; i++) await v.Volume.WriteAllBytesAsync($"/old/n{i}", new byte[] { 1 });
        Assert.True(Directory.Exists(v.On(2, "/old")), "the old directory was not healed onto the new brick");
        Assert.Equal(Xattr.Get(v.On(0, "/old"), "trusted.graft.gfid"), Xattr.Get(v.On(2, "/old"), "trusted.graft.gfid"));
        Assert.Equal(HashRange.None, v.LayoutOn(2, "/old")!.Value.Range);
        Assert.True(v.LayoutOf("/old").Settled);
        Assert.Empty(Directory.GetFiles(v.On(2, "/old")));
        // A directory made after the switch spreads over all three.
        await v.Volume.CreateDirectoryAsync("/new");
        for (int i = 0; i < 60; i++) await v.Volume.WriteAllBytesAsync($"/new/n{i}", new byte[] { 1 });
        Assert.All(Enumerable.Range(0, 3), i => Assert.NotEmpty(Directory.GetFiles(v.On(i, "/new"))));
        Assert.Equal(0, v.Volume.GetState().Counters.FdMigrationFailures);
    }

    [Fact]
    public async Task A_single_brick_volume_becomes_distributed_and_keeps_its_files_where_they_are()
    {
        await using var v = await DistributedVolume.CreateAsync(1);
        await v.Volume.CreateDirectoryAsync("/keep");
        for (int i = 0; i < 20; i++) await v.Volume.WriteAllBytesAsync($"/keep/f{i}", new byte[] { (byte)i });
        await v.AddBrickAsync();
        for (int i = 0; i < 20; i++) Assert.Equal([(byte)i], await v.Volume.ReadAllBytesAsync($"/keep/f{i}"));
        var layout = v.LayoutOf("/keep");
        Assert.True(layout.Settled && layout.HasRange(0) && !layout.HasRange(1), layout.ToString());
    }

    [Fact]
    public async Task A_directory_made_before_distribute_gets_a_first_layout_that_keeps_its_files()
    {
        await using var plain = await DistributedVolume.CreateAsync(1);
        var dir = plain.Bricks[0];
        // Files written by a graph without distribute: no layout anywhere.
        await using (var raw = await Volume.OpenVolfileTextAsync($"volume p\n type storage/posix\n option directory {dir}\nend-volume\n"))
        {
            await raw.CreateDirectoryAsync("/pre");
            for (int i = 0; i < 10; i++) await raw.WriteAllBytesAsync($"/pre/f{i}", new byte[] { (byte)i });
            await raw.CreateDirectoryAsync("/empty");
        }
        await plain.AddBrickAsync();
        for (int i = 0; i < 10; i++) Assert.Equal([(byte)i], await plain.Volume.ReadAllBytesAsync($"/pre/f{i}"));
        var pre = plain.LayoutOf("/pre");
        Assert.True(pre.Settled && pre.HasRange(0) && !pre.HasRange(1), pre.ToString());
        Assert.True(await plain.Volume.ExistsAsync("/empty"));
        // The root held names on the old brick only: it keeps all of its hash space there, so those names are found.
        var root = plain.LayoutOf("/");
        Assert.True(root.Settled && root.HasRange(0) && !root.HasRange(1), root.ToString());
        var empty = plain.LayoutOf("/empty");
        Assert.True(empty.Settled && empty.HasRange(0) && empty.HasRange(1), empty.ToString());
    }
}
