using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>SETLKW: a fair FIFO queue per file, granted as soon as possible, cancellable, with EDEADLK.</summary>
public class BlockingLockTests
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc B = new(LocksHarness.MountA, 2, 1002);
    private static readonly Proc C = new(LocksHarness.MountB, 3, 2003);

    [Fact]
    public async Task A_free_range_is_granted_at_once()
    {
        var h = await LocksHarness.CreateAsync();
        var t = h.SetLkW(A, h.Open(), Write, 0, 10);
        Assert.True(t.IsCompleted);
        Assert.Equal(Errno.OK, (await t).Error);
    }

    [Fact]
    public async Task Waiters_are_granted_on_unlock_one_at_a_time_in_arrival_order()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open(), fc = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 100));
        var b = h.SetLkW(B, fb, Write, 0, 10);
        var c = h.SetLkW(C, fc, Write, 5, 10);
        Assert.Equal(2, h.Locks.Counts.Waiting);
        Assert.False(b.IsCompleted || c.IsCompleted);

        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 0, 0));
        var granted = await b.WaitAsync(LocksHarness.Bound);
        Assert.Equal((Errno.OK, Write, 0L, 10L, B.Pid), (granted.Error, granted.Value.Type, granted.Value.Start, granted.Value.Length, granted.Value.Pid));
        Assert.False(c.IsCompleted); // C overlaps B's new lock
        Assert.Equal(B.Pid, (await h.GetLk(A, fa, Read, 0, 0)).Pid);

        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await c.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(0, h.Locks.Counts.Waiting);
    }

    [Fact]
    public async Task A_waiter_is_granted_by_an_unlock_of_just_the_part_it_needs()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 100));
        var b = h.SetLkW(B, h.Open(), Read, 40, 10);
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 0, 30)); // not enough
        Assert.False(b.IsCompleted);
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 40, 10));   // a downgrade of the part is enough
        Assert.Equal(Errno.OK, (await b.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_reader_does_not_overtake_a_waiting_writer()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 0, 0));
        var writer = h.SetLkW(B, h.Open(), Write, 0, 10);
        Assert.Equal(Errno.EAGAIN, await h.SetLk(C, h.Open(), Read, 0, 10)); // compatible with A, but B came first
        var reader = h.SetLkW(C, h.Open(), Read, 0, 10);
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 100, 10));          // A changing what it holds is not held up
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await writer.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(reader.IsCompleted);
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(), Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await reader.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue_with_EINTR_and_changes_nothing()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(), Read, 50, 10));
        using var cts = new CancellationTokenSource();
        var b = h.SetLkW(B, h.Open(), Write, 0, 10, cts.Token);
        var c = h.SetLkW(C, h.Open(), Read, 0, 10); // queued behind B's writer only
        Assert.False(c.IsCompleted);

        cts.Cancel();
        Assert.Equal(Errno.EINTR, (await b.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(Errno.OK, (await c.WaitAsync(LocksHarness.Bound)).Error); // nothing ahead of it any more
        Assert.Equal(0, h.Locks.Counts.Waiting);
        Assert.Equal(1, h.Locks.Counts.Cancelled);
        var held = await h.GetLk(C, h.Open(), Write, 50, 10);
        Assert.Equal((Read, 50L, 10L, B.Pid), (held.Type, held.Start, held.Length, held.Pid)); // B's own lock untouched
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 0, 0));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(A, fa, Write, 0, 10)); // B never got the cancelled lock; C reads there
    }

    [Fact]
    public async Task An_already_cancelled_request_fails_with_EINTR_without_queueing()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 0));
        var r = await h.SetLkW(B, h.Open(), Write, 0, 0, new CancellationToken(true));
        Assert.Equal(Errno.EINTR, r.Error);
        Assert.Equal(0, h.Locks.Counts.Waiting);
    }

    [Fact]
    public async Task A_wait_that_would_close_a_two_owner_cycle_gets_EDEADLK_and_the_other_still_gets_its_lock()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 20, 10));
        var a = h.SetLkW(A, fa, Write, 20, 10);
        Assert.False(a.IsCompleted);
        var b = await h.SetLkW(B, fb, Write, 0, 10).WaitAsync(LocksHarness.Bound);
        Assert.Equal(Errno.EDEADLK, b.Error);
        Assert.Equal(1, h.Locks.Counts.Deadlocks);
        Assert.Equal(1, h.Locks.Counts.Waiting);
        Assert.Equal(B.Pid, (await h.GetLk(A, fa, Read, 20, 10)).Pid); // B keeps what it had

        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await a.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_deadlock_across_two_files_is_found_too()
    {
        var h = await LocksHarness.CreateAsync();
        var other = Gfid.NewGfid();
        Fd a1 = h.Open(), b2 = h.Open(other);
        Assert.Equal(Errno.OK, await h.SetLk(A, a1, Write, 0, 0));
        Assert.Equal(Errno.OK, await h.SetLk(B, b2, Write, 0, 0));
        var a = h.SetLkW(A, h.Open(other), Write, 0, 1);
        Assert.False(a.IsCompleted);
        Assert.Equal(Errno.EDEADLK, (await h.SetLkW(B, h.Open(), Read, 0, 1)).Error);
        Assert.Equal(Errno.OK, await h.Flush(B, b2));
        Assert.Equal(Errno.OK, (await a.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_cycle_closed_later_by_a_grant_fails_the_waiter_on_it_with_EDEADLK()
    {
        var h = await LocksHarness.CreateAsync();
        var x = Gfid.NewGfid();
        var y = Gfid.NewGfid();
        Assert.Equal(Errno.OK, await h.SetLk(C, h.Open(y), Read, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(y), Read, 50, 10));
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(x), Read, 0, 10));
        var b = h.SetLkW(B, h.Open(y), Write, 0, 10); // waits for C only
        var a = h.SetLkW(A, h.Open(x), Write, 0, 10); // waits for B, who waits for C: no cycle
        Assert.False(a.IsCompleted || b.IsCompleted);

        // A already holds a lock on y, so its read is not held up by B's waiting writer; B now
        // waits for A as well, and A waits for B: the waiter found on the cycle is told.
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(y), Read, 0, 10));
        Assert.Equal(Errno.EDEADLK, (await b.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(a.IsCompleted);
        Assert.Equal(Errno.OK, await h.Flush(B, h.Open(x)));
        Assert.Equal(Errno.OK, (await a.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task With_deadlock_detection_off_the_request_waits_instead()
    {
        var h = await LocksHarness.CreateAsync(new() { ["deadlock-detection"] = "off" });
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 20, 10));
        var a = h.SetLkW(A, fa, Write, 20, 10);
        using var cts = new CancellationTokenSource();
        var b = h.SetLkW(B, fb, Write, 0, 10, cts.Token);
        Assert.False(b.IsCompleted);
        cts.Cancel(); // only cancellation bounds it
        Assert.Equal(Errno.EINTR, (await b.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(a.IsCompleted);
        await h.Flush(B, fb);
        Assert.Equal(Errno.OK, (await a.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task More_waiters_than_the_limit_get_ENOLCK()
    {
        var h = await LocksHarness.CreateAsync(new() { ["max-waiters-per-file"] = "2" });
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 0));
        var w1 = h.SetLkW(B, h.Open(), Write, 0, 1);
        var w2 = h.SetLkW(C, h.Open(), Write, 0, 1);
        Assert.Equal(Errno.ENOLCK, (await h.SetLkW(A with { Owner = 9 }, h.Open(), Write, 0, 1)).Error);
        Assert.False(w1.IsCompleted || w2.IsCompleted);
        h.Locks.ReleaseClient(LocksHarness.MountA);
        Assert.Equal(Errno.ENOTCONN, (await w1.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(Errno.OK, (await w2.WaitAsync(LocksHarness.Bound)).Error);
    }
}
