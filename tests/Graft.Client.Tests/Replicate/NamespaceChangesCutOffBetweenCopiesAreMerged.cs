using Graft.Core;
using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// With every copy up, namespace changes skip the pre-op and post-op (optimistic-change-log): they
/// write no counters unless a copy fails them, and then only blame that copy.
/// </summary>
public class NamespaceChangesWithEveryCopyUpWriteNoCounters
{
    [Fact]
    public async Task Mkdir_symlink_rename_unlink_and_rmdir_cost_no_pre_op_and_leave_nothing_pending()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        long before = v.Afr.PreOps;
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.CreateDirectoryAsync("/d/e");
        await v.Volume.SymlinkAsync("target", "/d/l");
        await v.Volume.RenameAsync("/d/l", "/d/m");
        await v.Volume.DeleteFileAsync("/d/m");
        await v.Volume.DeleteDirectoryAsync("/d/e");
        Assert.Equal(before, v.Afr.PreOps);
        Assert.True(v.Clean("/") && v.Clean("/d"), "an entry change left a counter");
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[1]));
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[2]));
    }

    [Fact]
    public async Task A_copy_that_fails_one_is_blamed_by_the_others_and_none_blames_itself()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.FaultAsync(2, "fail mkdir; fail-errno ENOSPC");
        await v.Volume.CreateDirectoryAsync("/d");
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(1, v.Counter(c, "/", of: 2, kind: Pending.Entry));
            Assert.Equal(0, v.Counter(c, "/", of: c, kind: Pending.Entry));
        }
        Assert.False(Directory.Exists(v.On(2, "/d")));
    }

    [Fact]
    public async Task With_a_copy_down_they_count_on_every_copy_first()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.TakeDownAsync(2);
        long before = v.Afr.PreOps;
        await v.Volume.CreateDirectoryAsync("/d");
        Assert.Equal(before + 1, v.Afr.PreOps);
        Assert.Equal(1, v.Counter(0, "/", of: 2, kind: Pending.Entry));
    }
}

/// <summary>
/// A namespace change made without pre-op and cut off between the copies (its client died; here the
/// blame that would have followed the failure is refused too, which leaves the same state) leaves a
/// name on some copies and no counter saying so: a lookup of the name adds it to the copies that lack
/// it, never removes it, until the bricks are identical.
/// </summary>
public class NamespaceChangesCutOffBetweenCopiesAreMerged
{
    [Fact]
    public async Task A_create_that_reached_one_copy_is_completed_on_the_others()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        await CutOffAsync(v, "create", () => v.Volume.WriteAllBytesAsync("/d/x", "x"u8.ToArray()));
        Assert.True(File.Exists(v.On(0, "/d/x")));
        Assert.False(File.Exists(v.On(1, "/d/x")));
        Assert.True(v.Clean("/d"), "the premise: nothing records the half-made create");

        Assert.True((await HealedAsync(v, "/d/x")).NamesMerged > 0);
    }

    [Fact]
    public async Task An_unlink_that_reached_one_copy_is_undone_with_the_data_of_the_others()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.WriteAllBytesAsync("/d/y", "kept"u8.ToArray());
        await CutOffAsync(v, "unlink", () => v.Volume.DeleteFileAsync("/d/y"));
        Assert.False(File.Exists(v.On(0, "/d/y")));
        Assert.True(File.Exists(v.On(1, "/d/y")));
        Assert.True(v.Clean("/d"), "the premise: nothing records the half-done unlink");

        Assert.True((await HealedAsync(v, "/d/y")).NamesMerged > 0);
        Assert.Equal("kept"u8.ToArray(), File.ReadAllBytes(v.On(0, "/d/y")));
    }

    /// <summary>Runs <paramref name="change"/> so that only b0 makes it and b0 refuses the blame that follows (the call fails); faults off again after.</summary>
    private static async Task CutOffAsync(ReplicatedVolume v, string fop, Func<Task> change)
    {
        await v.FaultAsync(0, "fail xattrop");
        await v.FaultAsync(1, "fail " + fop);
        await v.FaultAsync(2, "fail " + fop);
        await Assert.ThrowsAnyAsync<GraftIOException>(change);
        for (int i = 0; i < 3; i++) await v.FaultAsync(i, "");
    }

    /// <summary>Looks <paramref name="path"/> up from another client (it knows nothing) until every brick is the same and nothing is pending (bounded); that client's replicate.</summary>
    private static async Task<ReplicateTranslator> HealedAsync(ReplicatedVolume v, string path)
    {
        var other = await v.OpenClientAsync();
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until && !Same(v, path))
        {
            try { await other.StatAsync(path); } catch (GraftIOException) { }
            await Task.Delay(50);
        }
        Assert.Equal(Bricks.Describe(v.Bricks[1]), Bricks.Describe(v.Bricks[0]));
        Assert.Equal(Bricks.Describe(v.Bricks[1]), Bricks.Describe(v.Bricks[2]));
        Assert.True(v.Clean(path) && v.Clean("/d"), "counters left pending after the merge");
        return (ReplicateTranslator)other.Session.ActiveGraph.Top;
    }

    private static bool Same(ReplicatedVolume v, string path) =>
        Bricks.Describe(v.Bricks[0]) == Bricks.Describe(v.Bricks[1]) && Bricks.Describe(v.Bricks[1]) == Bricks.Describe(v.Bricks[2]) && v.Clean(path);
}
