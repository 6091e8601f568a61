using Graft.Core;
using Graft.Xlators.Protocol.Wire;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A SETLKW interrupted on the client (FUSE INTERRUPT) is taken off the brick's queue: the client
/// sends a Cancel frame, the brick answers EINTR, and the request never turns into a lock held by
/// nobody. A client whose connection dies has its waits cancelled the same way.
/// </summary>
public class ABlockingLockInterruptedOnTheClientLeavesTheBricksQueue
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_interrupted_setlkw_gets_eintr_and_the_lock_goes_to_the_next_one_after_the_unlock()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: []);
        var a = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var b = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fa, gfid) = await a.CreateAsync("f");
        var fb = await b.OpenAsync(gfid);
        var locks = brick.Locks!;

        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Write, 0, 0, 1, 100)));
        using var interrupt = new CancellationTokenSource();
        var waiting = b.Lk(fb, LockCmd.SetLkW, WireMount.Range(Write, 0, 0, 2, 200), interrupt.Token);
        await ClientGraphs.Until(() => locks.Counts.Waiting == 1, "queued on the brick");
        interrupt.Cancel();
        Assert.Equal(Errno.EINTR, (await waiting.WaitAsync(Bound)).Error);
        Assert.Equal(0, locks.Counts.Waiting);
        Assert.Equal(1, locks.Counts.Cancelled);

        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Unlock, 0, 0, 1, 100)));
        Assert.Equal(0, locks.Counts.Held); // the interrupted request was not granted to nobody
        Assert.Equal(Errno.OK, await b.SetLk(fb, WireMount.Range(Write, 0, 0, 3, 300)));

        await a.ReleaseAsync(fa);
        await b.ReleaseAsync(fb);
        await a.StopAsync();
        await b.StopAsync();
    }

    [Fact]
    public async Task A_connection_that_dies_takes_its_waiting_requests_off_the_queue_though_its_session_waits_for_a_reconnect()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "30" }, lockOptions: []);
        await using var proxy = new TcpProxy(brick.Port);
        var a = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var b = await WireMount.ConnectAsync(proxy.Port, "brick", Guid.NewGuid());
        var (fa, gfid) = await a.CreateAsync("f");
        var fb = await b.OpenAsync(gfid);
        var locks = brick.Locks!;

        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Write, 0, 10, 1, 100)));
        var waiting = b.Lk(fb, LockCmd.SetLkW, WireMount.Range(Write, 0, 10, 2, 200));
        await ClientGraphs.Until(() => locks.Counts.Waiting == 1, "queued on the brick");
        proxy.Refusing = true;
        proxy.CutAll();
        Assert.Equal(Errno.ENOTCONN, (await waiting.WaitAsync(Bound)).Error);
        await ClientGraphs.Until(() => locks.Counts.Waiting == 0, "the dead connection's wait cancelled");
        Assert.Equal(2, brick.Server.SessionCount); // b's session still waits out its grace

        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Unlock, 0, 0, 1, 100)));
        Assert.Equal(0, locks.Counts.Held);

        await a.ReleaseAsync(fa);
        await a.StopAsync();
        await b.StopAsync();
    }
}

/// <summary>
/// A reconnect that finds the brick lost the client's session (a restarted brick, or the brick's
/// grace for it ran out) sends CHILD_RESET up the graph, after the fds are reopened and before
/// CHILD_UP, so the mount reclaims its locks; a resumed session and the first connect do not.
/// </summary>
public class AReconnectToABrickThatLostTheSessionSendsChildReset
{
    [Fact]
    public async Task Only_a_reconnect_into_a_new_session_resets_and_a_reclaim_then_gets_the_lock_back()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "1s" }, lockOptions: []);
        await using var proxy = new TcpProxy(brick.Port);
        var a = await WireMount.ConnectAsync(proxy.Port, "brick", Guid.NewGuid());
        var (fd, _) = await a.CreateAsync("f");
        var range = WireMount.Range(Write, 0, 0, 1, 100);
        Assert.Equal(Errno.OK, await a.SetLk(fd, range));
        Assert.Equal(0, a.Client.Resets);

        proxy.CutAll(); // back within the brick's grace: the session, its fd and its lock are still there
        await ClientGraphs.Until(() => a.Client.Connects == 2 && a.Client.IsConnected, "reconnected");
        Assert.Equal(0, a.Client.Resets);
        Assert.Equal(1, brick.Locks!.Counts.PosixHeld);

        proxy.Refusing = true;
        proxy.CutAll();
        // The grace passes: the session ends, it was the mount's last, so the mount's lock goes too.
        await ClientGraphs.Until(() => brick.Server.MountsReleased == 1 && brick.Locks.Counts.Held == 0, "mount released");
        proxy.Refusing = false;
        await ClientGraphs.Until(() => a.Client.Connects == 3 && a.Client.IsConnected, "reconnected into a new session");
        Assert.Equal(1, a.Client.Resets);
        lock (a.Events)
        {
            int reset = a.Events.LastIndexOf(GraphEvent.ChildReset);
            Assert.True(reset > 0 && a.Events.IndexOf(GraphEvent.ChildUp, reset) > reset, string.Join(", ", a.Events));
        }
        // The fd was reopened; the mount takes its lock back through it.
        Assert.Equal(Errno.OK, (await a.Lk(fd, LockCmd.Reclaim, range)).Error);
        Assert.Equal(1, brick.Locks.Counts.ReclaimsGranted);
        Assert.Equal(1, brick.Locks.Counts.PosixHeld);

        await a.ReleaseAsync(fd);
        await a.StopAsync();
    }
}

/// <summary>
/// A mount's locks belong to the mount, not to one of its sessions (one per graph generation): a
/// session that ends drops only what belongs to its fds (flocks, waits), and the mount's fcntl
/// locks go when its last session has ended — not when an old graph retires.
/// </summary>
public class AMountsLocksGoWithItsLastSession
{
    [Fact]
    public async Task An_old_graph_saying_goodbye_keeps_the_mounts_fcntl_locks_and_the_last_one_drops_them_and_serves_the_waiter()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: []);
        var mount = Guid.NewGuid();
        var old = await WireMount.ConnectAsync(brick.Port, "brick", mount, generation: 1);
        var next = await WireMount.ConnectAsync(brick.Port, "brick", mount, generation: 2);
        var other = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fOld, gfid) = await old.CreateAsync("f");
        var fNext = await next.OpenAsync(gfid);
        var fOther = await other.OpenAsync(gfid);
        var locks = brick.Locks!;

        Assert.Equal(Errno.OK, await old.SetLk(fOld, WireMount.Range(Write, 0, 100, 1, 100)));
        Assert.Equal(Errno.OK, await old.SetLk(fOld, WireMount.Flock(Write, 0xf1, 100)));
        await old.ReleaseAsync(fOld);
        await old.StopAsync(); // goodbye: its session and fd go, and with the fd its flock
        await ClientGraphs.Until(() => brick.Server.SessionCount == 2, "old session ended");
        Assert.Equal((1, 0), (locks.Counts.PosixHeld, locks.Counts.FlocksHeld));
        Assert.Equal(0, brick.Server.MountsReleased);
        Assert.Equal(Errno.EAGAIN, await other.SetLk(fOther, WireMount.Range(Read, 50, 1, 9, 900)));

        var waiter = other.Lk(fOther, LockCmd.SetLkW, WireMount.Range(Write, 0, 0, 9, 900));
        await ClientGraphs.Until(() => locks.Counts.Waiting == 1, "waiting");
        await next.StopAsync(); // the mount's last session: its lock goes and the waiter is served
        Assert.Equal(Errno.OK, (await waiter.WaitAsync(TimeSpan.FromSeconds(10))).Error);
        Assert.Equal(1, brick.Server.MountsReleased);

        await other.ReleaseAsync(fOther);
        await other.StopAsync();
        _ = fNext;
    }
}

/// <summary>lk carries RECLAIM; rebind-locks carries both fds and the other session's instance.</summary>
public class LockRequestsOnTheWire
{
    [Fact]
    public void Reclaim_is_a_valid_lk_command_and_anything_past_it_is_a_malformed_request()
    {
        foreach (var (cmd, ok) in new[] { (LockCmd.Reclaim, true), ((LockCmd)4, false) })
        {
            var q = WireCodecRoundTrips.SampleRequest(FopOp.Lk);
            q.Flags = (int)cmd;
            var w = new BodyWriter();
            var flags = FopCodec.WriteRequest(w, q);
            Assert.Equal(ok, FopCodec.TryReadRequest(FopOp.Lk, flags, w.Written.ToArray(), out var back));
            if (ok) Assert.Equal(LockCmd.Reclaim, (LockCmd)back.Flags);
        }
    }

    [Fact]
    public void Rebind_locks_round_trips_its_two_fds_and_the_instance()
    {
        var q = new FopRequest(FopOp.RebindLocks) { Caller = new WireCaller { Groups = [] }, Fd = 3, Instance = Guid.NewGuid(), Fd2 = 99 };
        var w = new BodyWriter();
        FopCodec.WriteRequest(w, q);
        Assert.True(FopCodec.TryReadRequest(FopOp.RebindLocks, FrameFlags.None, w.Written.ToArray(), out var back));
        Assert.Equal((3UL, q.Instance, 99UL), (back.Fd, back.Instance, back.Fd2));
        Assert.False(FopCodec.TryReadRequest(FopOp.RebindLocks, FrameFlags.None, w.Written[..^1].ToArray(), out _));
    }
}
