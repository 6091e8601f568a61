using Graft.Core;

namespace Graft.Mount.Tests.Rooms;

internal static class Locking
{
    public static FileLock Fcntl(LockType type, long start, long length, ulong owner = 7) =>
        new() { Type = type, Start = start, Length = length, Pid = 1, Owner = owner };

    public static FileLock Flock(LockType type, ulong owner = 7) => new() { Type = type, Flock = true, Pid = 1, Owner = owner };

    public static async Task<MountFile> OpenAsync(TestSession t, string name)
    {
        var s = t.Session;
        var c = TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, name, OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        return c.File;
    }

    public static async Task SetAsync(TestSession t, MountFile f, FileLock lk) =>
        TestSession.Ok(await t.Session.LkAsync(t.Ctx, f, LockCmd.SetLk, lk));
}

/// <summary>The mount remembers the locks the bricks granted it, as the bricks keep them: an unlock cuts a range, a release drops the file's flocks.</summary>
public class TheMountRemembersTheLocksItHolds
{
    [Fact]
    public async Task An_unlock_in_the_middle_leaves_two_ranges()
    {
        await using var t = await TestSession.StartAsync();
        var f = await Locking.OpenAsync(t, "f");
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Write, 0, 100));
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Unlock, 40, 20));

        var held = f.Node.Locks!.Snapshot().Select(x => (x.Lock.Start, x.Lock.Length)).OrderBy(x => x.Start).ToList();
        Assert.Equal([(0L, 40L), (60L, 40L)], held);
        Assert.Equal(1, t.Session.Locks.LockedNodes);
    }

    [Fact]
    public async Task Releasing_the_file_forgets_its_flock_and_the_node()
    {
        await using var t = await TestSession.StartAsync();
        var f = await Locking.OpenAsync(t, "f");
        await Locking.SetAsync(t, f, Locking.Flock(LockType.Write));
        Assert.Single(f.Node.Locks!.Snapshot());

        await t.Session.ReleaseAsync(f);
        Assert.Null(f.Node.Locks);
        Assert.Equal(0, t.Session.Locks.LockedNodes);
    }
}

/// <summary>After a brick reset (a restarted brick), every remembered lock is sent back as a reclaim through the active graph.</summary>
public class ABrickResetTakesEveryLockBack
{
    [Fact]
    public async Task Each_lock_is_reclaimed_once()
    {
        await using var t = await TestSession.StartAsync();
        var f = await Locking.OpenAsync(t, "f");
        var g = await Locking.OpenAsync(t, "g");
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Write, 0, 10));
        await Locking.SetAsync(t, g, Locking.Flock(LockType.Read));

        Assert.Equal((2, 0), await t.Session.Locks.ReclaimAllAsync(t.Graph));
        List<(LockCmd Cmd, FileLock Lock)> reclaims;
        lock (t.Brick.LockCalls) reclaims = t.Brick.LockCalls.Where(c => c.Cmd == LockCmd.Reclaim).ToList();
        Assert.Equal(2, reclaims.Count);
        Assert.Contains(reclaims, c => !c.Lock.Flock && c.Lock.Type == LockType.Write && c.Lock.Start == 0 && c.Lock.Length == 10);
        Assert.Contains(reclaims, c => c.Lock.Flock && c.Lock.Type == LockType.Read);
        Assert.Equal(2, t.Session.GetState().Counters.LocksReclaimed);
    }

    [Fact]
    public async Task The_graphs_reset_event_starts_it()
    {
        await using var t = await TestSession.StartAsync();
        var f = await Locking.OpenAsync(t, "f");
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Write, 0, 10));

        t.Brick.Reset();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (t.Session.GetState().Counters.LocksReclaimed < 1 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(1, t.Session.GetState().Counters.LocksReclaimed);
    }
}

/// <summary>A lock the brick will not give back fails the file it was taken through closed: EIO on every later call, never silently unlocked.</summary>
public class ALockThatIsNotGivenBackFailsItsFileClosed
{
    [Fact]
    public async Task The_file_answers_EIO_and_the_lock_is_forgotten()
    {
        await using var t = await TestSession.StartAsync();
        var f = await Locking.OpenAsync(t, "f");
        var other = await Locking.OpenAsync(t, "other");
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Write, 0, 10));
        t.Brick.RefuseReclaims = Errno.EAGAIN; // someone else took it after the grace

        Assert.Equal((0, 1), await t.Session.Locks.ReclaimAllAsync(t.Graph));
        Assert.Equal(Errno.EIO, f.Failure);
        Assert.Equal(Errno.EIO, (await t.Session.ReadAsync(t.Ctx, f, new byte[4], 0)).Error);
        Assert.Empty(f.Node.Locks!.Snapshot());
        Assert.Equal(Errno.OK, other.Failure); // only the file that held it
        Assert.Equal(1, t.Session.GetState().Counters.LocksLost);
    }
}

/// <summary>
/// A reclaim waits for the reconnect that follows the reset, and that reconnect's CHILD_UP wakes it:
/// the second restart's as much as the first (the graph's first CHILD_UP is long past by then).
/// </summary>
public class AReclaimWaitsForItsReconnect
{
    [Fact]
    public async Task A_reset_and_reconnect_twice_wakes_each_reclaim()
    {
        // The child-up bound is out of reach: only the reconnect can wake the reclaim.
        await using var t = await TestSession.StartAsync(options: new MountOptions { ChildUpTimeout = TimeSpan.FromHours(1) });
        var f = await Locking.OpenAsync(t, "f");
        await Locking.SetAsync(t, f, Locking.Fcntl(LockType.Write, 0, 10));
        for (int round = 1; round <= 2; round++)
        {
            t.Brick.Disconnect();
            var reclaim = t.Session.Locks.ReclaimAllAsync(t.Graph); // what the reset event starts
            Assert.False(reclaim.IsCompleted);
            Assert.Equal(round - 1, Reclaims(t)); // nothing sent while the brick is away

            t.Brick.Reconnect();
            Assert.Equal((1, 0), await reclaim.WaitAsync(SwitchingSession.Bound));
            Assert.Equal(round, Reclaims(t));
        }
    }

    private static int Reclaims(TestSession t)
    {
        lock (t.Brick.LockCalls) return t.Brick.LockCalls.Count(c => c.Cmd == LockCmd.Reclaim);
    }
}

/// <summary>
/// A reclaim follows the active graph: when a switch happens while it waits for its reconnect, it goes
/// out through the new graph (up, or it would not be active) instead of waiting out the child-up bound
/// on the graph that is retiring — which may never see its brick again, while the brick's lock grace runs.
/// </summary>
public class AReclaimFollowsTheActiveGraph
{
    [Fact]
    public async Task A_switch_during_its_wait_sends_it_through_the_new_graph()
    {
        // The child-up bound is out of reach: only following the switch can end the wait in time.
        await using var s = await SwitchingSession.StartAsync(sweepDelay: TimeSpan.FromHours(1), childUpTimeout: TimeSpan.FromHours(1));
        var c = TestSession.Ok(await s.Session.CreateAsync(s.Ctx, s.Session.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        TestSession.Ok(await s.Session.LkAsync(s.Ctx, c.File, LockCmd.SetLk, Locking.Fcntl(LockType.Write, 0, 10)));
        var old = s.Session.ActiveGraph;

        SwitchingSession.BrickOf(old).Disconnect(); // the old graph's brick goes away and does not come back to it
        var reclaim = s.Session.Locks.ReclaimAllAsync(old); // what its reset event starts
        Assert.False(reclaim.IsCompleted);

        await s.SwitchAsync();
        Assert.Equal((1, 0), await reclaim.WaitAsync(SwitchingSession.Bound));
        Assert.Equal(0, Reclaims(SwitchingSession.BrickOf(old)));
        Assert.Equal(1, Reclaims(SwitchingSession.BrickOf(s.Session.ActiveGraph)));
        Assert.Equal(Errno.OK, c.File.Failure);
    }

    private static int Reclaims(MemoryBrick brick)
    {
        lock (brick.LockCalls) return brick.LockCalls.Count(c => c.Cmd == LockCmd.Reclaim);
    }
}
