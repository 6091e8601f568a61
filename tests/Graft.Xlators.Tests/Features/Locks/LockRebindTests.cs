using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// Graph switch: the mount reopens the file on the new graph, re-binds its locks to the new fd,
/// then releases the old fd. Nothing held may be dropped and a waiting SETLKW keeps its place.
/// </summary>
public class LockRebindTests
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc B = new(LocksHarness.MountA, 2, 1002);
    private static readonly Proc Probe = new(LocksHarness.MountB, 3, 3003);

    [Fact]
    public async Task Held_locks_and_a_waiting_request_move_to_the_new_fds_and_the_waiter_is_granted_exactly_once()
    {
        var h = await LocksHarness.CreateAsync();
        var oldGraph = new InodeTable();
        var newGraph = new InodeTable();
        Fd aOld = h.Open(table: oldGraph), bOld = h.Open(table: oldGraph);
        Assert.Equal(Errno.OK, await h.SetLk(A, aOld, Write, 0, 100));
        Assert.Equal(Errno.OK, await h.Flock(A, aOld, Write));
        var b = h.SetLkW(B, bOld, Write, 10, 10);
        var c = h.SetLkW(Probe, h.Open(), Write, 10, 10); // queued behind B: B must keep its place
        Assert.Equal(2, h.Locks.Counts.Waiting);

        Fd aNew = h.Open(table: newGraph), bNew = h.Open(table: newGraph);
        Assert.Equal(2, h.Locks.Rebind(aOld, aNew).Value);
        Assert.Equal(1, h.Locks.Rebind(bOld, bNew).Value);
        await h.Locks.ReleaseAsync(aOld); // the old fds go only after the rebind
        await h.Locks.ReleaseAsync(bOld);

        Assert.Equal((0, 0), (h.Locks.CountThrough(aOld), h.Locks.CountThrough(bOld)));
        Assert.Equal((2, 1), (h.Locks.CountThrough(aNew), h.Locks.CountThrough(bNew)));
        Assert.False(b.IsCompleted);                                  // the release of the old fd did not fail it
        Assert.Equal(Errno.EAGAIN, await h.SetLk(Probe, h.Open(), Read, 50, 1)); // A's range still held
        Assert.Equal(Errno.EAGAIN, await h.Flock(Probe, h.Open(), Read));        // A's flock too

        long grantedBefore = h.Locks.Counts.Granted;
        Assert.Equal(Errno.OK, await h.SetLk(A, aNew, Unlock, 0, 0));
        var r = await b.WaitAsync(LocksHarness.Bound);
        Assert.Equal((Errno.OK, 10L, 10L), (r.Error, r.Value.Start, r.Value.Length));
        Assert.False(c.IsCompleted);                                  // B was first, and still is
        Assert.Equal(grantedBefore + 1, h.Locks.Counts.Granted);      // one grant, not two
        Assert.Equal(1, h.Locks.Counts.PosixHeld);                    // B's lock only, nothing duplicated
        Assert.Equal(1, h.Locks.CountThrough(bNew));
        Assert.Equal(B.Pid, (await h.GetLk(Probe, h.Open(), Read, 0, 0)).Pid);

        await h.Flush(B, bNew);
        Assert.Equal(Errno.OK, (await c.WaitAsync(LocksHarness.Bound)).Error);
        await h.Locks.ReleaseAsync(aNew);
        Assert.Equal(Errno.OK, await h.Flock(Probe, h.Open(), Write));
    }

    [Fact]
    public async Task A_waiting_request_resent_through_the_new_fd_joins_its_queued_self_and_the_old_call_can_go()
    {
        var h = await LocksHarness.CreateAsync();
        var aFd = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Write, 0, 0));
        Fd bOld = h.Open(table: new InodeTable()), bNew = h.Open(table: new InodeTable());
        using var oldConnection = new CancellationTokenSource();
        var onOld = h.SetLkW(B, bOld, Write, 10, 10, oldConnection.Token);
        var c = h.SetLkW(Probe, h.Open(), Write, 10, 10);

        Assert.Equal(1, h.Locks.Rebind(bOld, bNew).Value);
        var onNew = h.SetLkW(B, bNew, Write, 10, 10); // the mount re-sends it on the new graph
        Assert.Equal(2, h.Locks.Counts.Waiting);      // joined, not queued a second time (behind C)
        oldConnection.Cancel();                       // the old graph retires: its call goes
        Assert.Equal(Errno.EINTR, (await onOld.WaitAsync(LocksHarness.Bound)).Error);
        await h.Locks.ReleaseAsync(bOld);
        Assert.Equal(2, h.Locks.Counts.Waiting);      // the request itself still waits, first in line
        Assert.False(onNew.IsCompleted);

        long grantedBefore = h.Locks.Counts.Granted;
        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await onNew.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(c.IsCompleted);
        Assert.Equal(grantedBefore + 1, h.Locks.Counts.Granted);
        Assert.Equal(1, h.Locks.Counts.PosixHeld);
        Assert.Equal(1, h.Locks.CountThrough(bNew));
    }

    [Fact]
    public async Task A_rebound_request_whose_old_call_goes_before_the_resend_arrives_keeps_its_place()
    {
        var h = await LocksHarness.CreateAsync();
        var aFd = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Write, 0, 0));
        Fd bOld = h.Open(table: new InodeTable()), bNew = h.Open(table: new InodeTable());
        using var oldConnection = new CancellationTokenSource();
        var onOld = h.SetLkW(B, bOld, Write, 10, 10, oldConnection.Token);
        var c = h.SetLkW(Probe, h.Open(), Write, 10, 10);

        Assert.Equal(1, h.Locks.Rebind(bOld, bNew).Value);
        oldConnection.Cancel(); // the old graph's call goes first: the two connections race
        Assert.Equal(Errno.EINTR, (await onOld.WaitAsync(LocksHarness.Bound)).Error);
        await h.Locks.ReleaseAsync(bOld);
        Assert.Equal(2, h.Locks.Counts.Waiting); // still queued, still ahead of C, with no call waiting for it

        var onNew = h.SetLkW(B, bNew, Write, 10, 10); // the re-sent call joins it
        Assert.Equal(2, h.Locks.Counts.Waiting);
        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await onNew.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(c.IsCompleted);
        await h.Flush(B, bNew);
        Assert.Equal(Errno.OK, (await c.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_rebound_request_granted_before_its_resend_arrives_is_the_owners_and_the_resend_is_answered_at_once()
    {
        var h = await LocksHarness.CreateAsync();
        var aFd = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Write, 0, 0));
        Fd bOld = h.Open(table: new InodeTable()), bNew = h.Open(table: new InodeTable());
        using var oldConnection = new CancellationTokenSource();
        var onOld = h.SetLkW(B, bOld, Write, 10, 10, oldConnection.Token);
        Assert.Equal(1, h.Locks.Rebind(bOld, bNew).Value);
        oldConnection.Cancel();
        Assert.Equal(Errno.EINTR, (await onOld.WaitAsync(LocksHarness.Bound)).Error);

        Assert.Equal(Errno.OK, await h.SetLk(A, aFd, Unlock, 0, 0)); // granted with nobody waiting for the answer
        Assert.Equal((1, 0), (h.Locks.Counts.PosixHeld, h.Locks.Counts.Waiting));
        Assert.Equal(B.Pid, (await h.GetLk(Probe, h.Open(), Write, 0, 0)).Pid); // B's, through the new fd
        Assert.Equal(1, h.Locks.CountThrough(bNew));
        var resent = await h.SetLkW(B, bNew, Write, 10, 10).WaitAsync(LocksHarness.Bound);
        Assert.Equal(Errno.OK, resent.Error);
        Assert.Equal(1, h.Locks.Counts.PosixHeld); // the same lock, not a second one
    }

    [Fact]
    public async Task A_rebound_request_that_was_joined_leaves_the_queue_when_the_new_call_is_interrupted_too()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 0));
        Fd bOld = h.Open(table: new InodeTable()), bNew = h.Open(table: new InodeTable());
        using var oldConnection = new CancellationTokenSource();
        using var interrupt = new CancellationTokenSource();
        var onOld = h.SetLkW(B, bOld, Write, 0, 0, oldConnection.Token);
        Assert.Equal(1, h.Locks.Rebind(bOld, bNew).Value);
        var onNew = h.SetLkW(B, bNew, Write, 0, 0, interrupt.Token);
        oldConnection.Cancel();
        Assert.Equal(Errno.EINTR, (await onOld.WaitAsync(LocksHarness.Bound)).Error);
        interrupt.Cancel(); // the process is interrupted: its request must go, as without a switch
        Assert.Equal(Errno.EINTR, (await onNew.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(0, h.Locks.Counts.Waiting);
    }

    [Fact]
    public async Task A_joined_request_leaves_the_queue_only_when_every_call_is_cancelled()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 0));
        var fd = h.Open();
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        var t1 = h.SetLkW(B, fd, Read, 0, 0, first.Token);
        var t2 = h.SetLkW(B, fd, Read, 0, 0, second.Token);
        Assert.Equal(1, h.Locks.Counts.Waiting);
        first.Cancel();
        Assert.Equal(Errno.EINTR, (await t1.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(1, h.Locks.Counts.Waiting);
        second.Cancel();
        Assert.Equal(Errno.EINTR, (await t2.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(0, h.Locks.Counts.Waiting);
    }

    [Fact]
    public async Task Without_a_rebind_releasing_the_fd_fails_its_waiting_request()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 0));
        var bFd = h.Open();
        var b = h.SetLkW(B, bFd, Write, 0, 0);
        await h.Locks.ReleaseAsync(bFd);
        Assert.Equal(Errno.EBADF, (await b.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(0, h.Locks.Counts.Waiting);
    }

    [Fact]
    public async Task Rebind_refuses_fds_of_different_files_and_moves_nothing_else()
    {
        var h = await LocksHarness.CreateAsync();
        var a = h.Open();
        var elsewhere = h.Open(Gfid.NewGfid());
        Assert.Equal(Errno.OK, await h.SetLk(A, a, Write, 0, 0));
        Assert.Equal(Errno.EINVAL, h.Locks.Rebind(a, elsewhere).Error);
        Assert.Equal(0, h.Locks.Rebind(h.Open(), h.Open()).Value); // an fd holding nothing
        Assert.Equal(1, h.Locks.CountThrough(a));
    }

    [Fact]
    public async Task Rebinding_concurrently_with_lock_traffic_never_lets_another_owner_in()
    {
        var h = await LocksHarness.CreateAsync();
        var current = h.Open(table: new InodeTable());
        Assert.Equal(Errno.OK, await h.SetLk(A, current, Write, 0, 0));
        using var stop = new CancellationTokenSource();
        int stolen = 0;
        var prober = Task.Run(async () =>
        {
            var fd = h.Open();
            while (!stop.IsCancellationRequested)
                if (await h.SetLk(Probe, fd, Write, 0, 1) == Errno.OK) Interlocked.Increment(ref stolen);
        });
        for (int i = 0; i < 200; i++)
        {
            var next = h.Open(table: new InodeTable());
            Assert.Equal(1, h.Locks.Rebind(current, next).Value);
            await h.Locks.ReleaseAsync(current);
            current = next;
        }
        stop.Cancel();
        await prober.WaitAsync(LocksHarness.Bound);
        Assert.Equal(0, stolen);
        Assert.Equal(1, h.Locks.CountThrough(current));
    }
}
