using Graft.Core;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Performance.WriteBehind;

namespace Graft.Xlators.Tests.Performance;

/// <summary>write-behind over debug/faults over a memory leaf whose writes each wait for the test (HoldEach).</summary>
internal static class HeldWrites
{
    public static async Task<(Graph G, WriteBehindTranslator Wb, FaultsTranslator Faults, MemoryLeaf Leaf)> BuildAsync(int inFlight = 3, string window = "64KB")
    {
        var g = Graph.Linear(1, (MemoryLeaf.Spec, "mem", null), (FaultsTranslator.Spec, "faults", null),
            (WriteBehindTranslator.Spec, "wb", new Dictionary<string, string>
            {
                ["writes-in-flight"] = inFlight.ToString(System.Globalization.CultureInfo.InvariantCulture), ["cache-size"] = window, ["aggregate-size"] = "4KB",
            }));
        await g.InitAsync(CancellationToken.None);
        var leaf = (MemoryLeaf)g.Translators[0];
        leaf.HoldEach = true;
        return (g, (WriteBehindTranslator)g.Top, (FaultsTranslator)g.Translators[1], leaf);
    }

    public static byte[] Fill(byte value, int n = 4096) { var b = new byte[n]; Array.Fill(b, value); return b; }

    /// <summary>Offsets of the writes that reached the leaf, in arrival order (those sent together arrive in any order).</summary>
    public static long[] Arrivals(MemoryLeaf leaf) { lock (leaf.Held) return [.. leaf.Held.Select(h => h.Offset)]; }

    /// <summary>Lets the held write at <paramref name="offset"/> (the latest to arrive there) go on.</summary>
    public static void Release(MemoryLeaf leaf, long offset)
    {
        lock (leaf.Held) leaf.Held.FindLast(h => h.Offset == offset).Gate.SetResult();
    }

    public static void ReleaseAll(MemoryLeaf leaf)
    {
        lock (leaf.Held) foreach (var h in leaf.Held) h.Gate.TrySetResult();
    }

    /// <summary>Waits (bounded) until <paramref name="n"/> writes reached the leaf, then a moment more to see that no other comes.</summary>
    public static async Task ExactlyArrivedAsync(MemoryLeaf leaf, int n)
    {
        await WriteBehindTests.WaitUntil(() => Volatile.Read(ref leaf.Arrived) >= n);
        await Task.Delay(50);
        Assert.Equal(n, Volatile.Read(ref leaf.Arrived));
    }
}

/// <summary>Acknowledged writes to disjoint ranges of a file go below side by side, at most writes-in-flight at once.</summary>
public class DisjointWritesTravelSideBySide
{
    private static readonly FopContext Ctx = FopContext.Root();

    [Fact]
    public async Task Up_to_writes_in_flight_go_at_once_the_rest_as_each_lands()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 3);
        var fd = WriteBehindTests.NewFd(g);
        for (int i = 0; i < 5; i++) Assert.Equal(4096, (await wb.WritevAsync(Ctx, fd, HeldWrites.Fill((byte)(i + 1)), i * 8192)).Value);
        await HeldWrites.ExactlyArrivedAsync(leaf, 3);
        Assert.Equal([0, 8192, 16384], HeldWrites.Arrivals(leaf).Order());
        Assert.Equal(2, wb.WritesBesideOthers);

        HeldWrites.Release(leaf, 8192); // one lands: the next queued goes
        await HeldWrites.ExactlyArrivedAsync(leaf, 4);
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 5);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(Ctx, fd, false).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        var c = leaf.Content(fd.Inode.Gfid);
        for (int i = 0; i < 5; i++) Assert.Equal((byte)(i + 1), c[i * 8192]);
        Assert.Equal(5, wb.WritesSent);
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task With_one_in_flight_they_go_one_after_the_other()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 1);
        var fd = WriteBehindTests.NewFd(g);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(1), 0);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(2), 8192);
        await HeldWrites.ExactlyArrivedAsync(leaf, 1);
        HeldWrites.Release(leaf, 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FlushAsync(Ctx, fd).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, wb.WritesBesideOthers);
    }
}

/// <summary>
/// A write that overlaps one in flight waits for it, and everything queued behind it waits too: two
/// writes of the same bytes reach the child in the order they were acknowledged, whatever order the
/// child would finish them in. An O_APPEND write goes alone (where it lands depends on the size).
/// </summary>
public class OverlappingWritesLandInTheirOrder
{
    private static readonly FopContext Ctx = FopContext.Root();

    [Fact]
    public async Task An_overwrite_waits_for_the_write_it_overlaps_and_lands_last()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 4);
        var fd = WriteBehindTests.NewFd(g);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(1), 0);        // A
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(2), 8192);     // B, beside A
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(3, 100), 4000); // C overlaps A's last bytes
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(4), 16384);    // D, queued behind C
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        Assert.Equal([0, 8192], HeldWrites.Arrivals(leaf).Order());

        HeldWrites.Release(leaf, 8192);  // B landing does not let C overtake A
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.Release(leaf, 0);     // A lands: C and D go
        await HeldWrites.ExactlyArrivedAsync(leaf, 4);
        Assert.Equal([4000, 16384], HeldWrites.Arrivals(leaf)[2..].Order()); // after A and B
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(Ctx, fd, false).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        var c = leaf.Content(fd.Inode.Gfid);
        Assert.Equal(1, c[3999]);
        Assert.Equal(3, c[4000]);
        Assert.Equal(3, c[4095]);
        Assert.Equal(2, c[8192]);
        Assert.Equal(4, c[16384]);
    }

    [Fact]
    public async Task A_write_over_a_range_in_flight_lands_after_it_even_when_the_child_would_finish_it_first()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 4);
        var fd = WriteBehindTests.NewFd(g);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(1), 0);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(2), 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 1);
        HeldWrites.Release(leaf, 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.ReleaseAll(leaf);
        await wb.FlushAsync(Ctx, fd).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.All(leaf.Content(fd.Inode.Gfid), b => Assert.Equal(2, b));
    }

    [Fact]
    public async Task An_append_goes_alone_after_the_writes_before_it_and_before_those_after_it()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 4);
        var fd = WriteBehindTests.NewFd(g);
        var appender = new Fd(fd.Inode, OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(1), 0);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(2), 4096);
        await wb.WritevAsync(Ctx, appender, HeldWrites.Fill(3), 0); // lands at the end: after both
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(4), 65536);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.Release(leaf, 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.Release(leaf, 4096);
        await HeldWrites.ExactlyArrivedAsync(leaf, 3);    // the append, alone
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 4);
        HeldWrites.ReleaseAll(leaf);
        await wb.FlushAsync(Ctx, fd).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        var c = leaf.Content(fd.Inode.Gfid);
        Assert.Equal(3, c[8192]);
        Assert.Equal(3, c[12287]);
        Assert.Equal(4, c[65536]);
    }
}

/// <summary>
/// A background write that fails while others of the file are in flight beside it (debug/faults below
/// write-behind) is recorded on the file: fsync and close wait for every write in flight, and then
/// report it; the writes beside it land.
/// </summary>
public class AFailedWriteAmongSeveralInFlightIsReportedAtFsyncAndClose
{
    private static readonly FopContext Ctx = FopContext.Root();

    private static async Task<(Graph G, WriteBehindTranslator Wb, MemoryLeaf Leaf, Fd Fd)> OneOfThreeFailsAsync()
    {
        var (g, wb, faults, leaf) = await HeldWrites.BuildAsync(inFlight: 3);
        var fd = WriteBehindTests.NewFd(g);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(1), 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 1);
        faults.Reconfigure(new OptionValues(FaultsTranslator.Spec.Options, new Dictionary<string, string>
            { ["fail"] = "writev", ["fail-count"] = "1", ["fail-errno"] = "ENOSPC" }));
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(2), 4096); // in flight beside the first: fails at the faults layer
        await WriteBehindTests.WaitUntil(() => wb.Failures == 1);
        await wb.WritevAsync(Ctx, fd, HeldWrites.Fill(3), 8192);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        Assert.Equal(3, wb.WritesSent);
        Assert.Equal(2, wb.WritesBesideOthers);
        return (g, wb, leaf, fd);
    }

    [Fact]
    public async Task Fsync_waits_for_the_writes_beside_it_then_reports_it()
    {
        var (_, wb, leaf, fd) = await OneOfThreeFailsAsync();
        var fsync = wb.FsyncAsync(Ctx, fd, false).AsTask();
        await Task.Delay(50);
        Assert.False(fsync.IsCompleted); // two writes are still in flight
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await fsync.WaitAsync(TimeSpan.FromSeconds(5))); // the fop; the session reports what was recorded
        Assert.Equal(Errno.ENOSPC, fd.TakeWriteBackError());
        var c = leaf.Content(fd.Inode.Gfid);
        Assert.Equal(1, c[0]);
        Assert.Equal(0, c[4096]);
        Assert.Equal(3, c[8192]);
    }

    [Fact]
    public async Task Close_waits_for_the_writes_beside_it_then_reports_it()
    {
        var (_, wb, leaf, fd) = await OneOfThreeFailsAsync();
        var flush = wb.FlushAsync(Ctx, fd).AsTask();
        await Task.Delay(50);
        Assert.False(flush.IsCompleted);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await flush.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(Errno.ENOSPC, fd.WriteBackErrorSinceOpen);
        Assert.Equal(0, wb.BytesHeld);
    }
}

/// <summary>
/// Several writes in flight when the graph goes: PARENT_DOWN (a switch's end of the old graph) and the
/// settle contract (the mount session's hand-over to a new graph) wait for all of them, and each is
/// written once; a teardown by force lets those in flight finish (once each), drops what is queued and
/// records EIO.
/// </summary>
public class SeveralWritesInFlightAtASwitchOrTeardown
{
    private static readonly FopContext Ctx = FopContext.Root();

    private static async Task<(Graph G, WriteBehindTranslator Wb, MemoryLeaf Leaf, Fd Fd)> ThreeInFlightTwoQueuedAsync()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 3);
        var fd = WriteBehindTests.NewFd(g);
        for (int i = 0; i < 5; i++) await wb.WritevAsync(Ctx, fd, HeldWrites.Fill((byte)(i + 1)), i * 8192);
        await HeldWrites.ExactlyArrivedAsync(leaf, 3);
        return (g, wb, leaf, fd);
    }

    private static void EachWrittenOnce(MemoryLeaf leaf, int n)
    {
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i * 8192), leaf.Writes.Select(w => w.Offset).Order());
    }

    [Fact]
    public async Task Parent_down_and_settle_wait_for_every_write_and_each_is_written_once()
    {
        var (g, wb, leaf, fd) = await ThreeInFlightTwoQueuedAsync();
        var settle = wb.SettleAsync(fd.Inode).AsTask();
        g.SendParentDown();
        await Task.Delay(50);
        Assert.False(settle.IsCompleted);
        Assert.False(g.ParentDownHandled.IsCompleted);
        HeldWrites.Release(leaf, 16384);
        HeldWrites.Release(leaf, 0);
        await HeldWrites.ExactlyArrivedAsync(leaf, 5);
        Assert.False(settle.IsCompleted); // three are still in flight
        HeldWrites.ReleaseAll(leaf);
        await settle.WaitAsync(TimeSpan.FromSeconds(5));
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(5));
        await g.DestroyAsync();
        EachWrittenOnce(leaf, 5);
        Assert.Equal(Errno.OK, fd.WriteBackErrorSinceOpen);
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task A_teardown_by_force_lets_those_in_flight_finish_once_and_drops_the_queued()
    {
        var (g, wb, leaf, fd) = await ThreeInFlightTwoQueuedAsync();
        var destroy = g.DestroyAsync(); // no PARENT_DOWN: the retirement bound ran out
        Assert.Equal(Errno.EIO, fd.PendingWriteBackError);
        HeldWrites.ReleaseAll(leaf);
        await destroy.WaitAsync(TimeSpan.FromSeconds(5));
        await WriteBehindTests.WaitUntil(() => wb.BytesHeld == 0);
        await Task.Delay(50);
        Assert.Equal(3, Volatile.Read(ref leaf.Arrived)); // nothing was sent after the teardown
        EachWrittenOnce(leaf, 3);
        Assert.Equal(Errno.EIO, fd.TakeWriteBackError());
    }
}
