using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>Blocking inodelk/entrylk wait in arrival order, a later reader does not overtake a waiting writer, and the wait is bounded.</summary>
public class BlockingDomainLocksWaitTheirTurn
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 2, 200),
                                 C = new(LocksHarness.MountB, 3, 300);

    [Fact]
    public async Task Waiters_are_granted_in_arrival_order()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write));
        var b = h.Inodelk(B, "d", Cmd.LockBlocking, LockType.Write);
        await h.WaitingAsync(1);
        var c = h.Inodelk(C, "d", Cmd.LockBlocking, LockType.Write);
        await h.WaitingAsync(2);
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await b.WaitAsync(LocksHarness.Bound));
        await h.WaitingAsync(1);
        Assert.False(c.IsCompleted);
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await c.WaitAsync(LocksHarness.Bound));
    }

    [Fact]
    public async Task A_reader_does_not_overtake_a_waiting_writer()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Lock, LockType.Read));
        var writer = h.Entrylk(B, "d", "x", Cmd.LockBlocking, LockType.Write);
        await h.WaitingAsync(1);
        Assert.Equal(Errno.EAGAIN, await h.Entrylk(C, "d", "x", Cmd.Lock, LockType.Read));
        var reader = h.Entrylk(C, "d", "x", Cmd.LockBlocking, LockType.Read);
        await h.WaitingAsync(2);
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Unlock, LockType.Read));
        Assert.Equal(Errno.OK, await writer.WaitAsync(LocksHarness.Bound));
        Assert.False(reader.IsCompleted);
        Assert.Equal(Errno.OK, await h.Entrylk(B, "d", "x", Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await reader.WaitAsync(LocksHarness.Bound));
    }

    [Fact]
    public async Task A_wait_past_domain_lock_timeout_is_EAGAIN_and_leaves_the_queue()
    {
        var h = await LocksHarness.CreateAsync(new() { ["domain-lock-timeout"] = "300ms" });
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write));
        var started = DateTime.UtcNow;
        var b = h.Inodelk(B, "d", Cmd.LockBlocking, LockType.Write);
        Assert.Equal(Errno.EAGAIN, await b.WaitAsync(LocksHarness.Bound));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(290), "answered before the bound");
        var n = h.Locks.Counts;
        Assert.Equal((0, 1L, 1), (n.DomainWaiting, n.DomainTimeouts, n.DomainHeld));
    }

    [Fact]
    public async Task A_cancelled_wait_is_EINTR_and_lets_the_next_one_through()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Read));
        using var cancel = new CancellationTokenSource();
        var b = h.Inodelk(B, "d", Cmd.LockBlocking, LockType.Write, ct: cancel.Token);
        await h.WaitingAsync(1);
        var c = h.Inodelk(C, "d", Cmd.LockBlocking, LockType.Read);   // queued behind B's write
        await h.WaitingAsync(2);
        cancel.Cancel();
        Assert.Equal(Errno.EINTR, await b.WaitAsync(LocksHarness.Bound));
        Assert.Equal(Errno.OK, await c.WaitAsync(LocksHarness.Bound));
        Assert.Equal(1, h.Locks.Counts.DomainCancelled);
    }
}
