using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>A session that ends for good drops the domain locks taken through it (and only those), and the waiters behind them go.</summary>
public class DomainLocksGoWithTheirSession
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 2, 200);
    private static readonly Guid S1 = Guid.NewGuid(), S2 = Guid.NewGuid(), SB = Guid.NewGuid();

    [Fact]
    public async Task The_end_of_the_holders_session_grants_the_waiter()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, session: S1));
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Lock, LockType.Write, session: S1));
        var b = h.Inodelk(B, "d", Cmd.LockBlocking, LockType.Write, session: SB);
        var e = h.Entrylk(B, "d", "x", Cmd.LockBlocking, LockType.Write, session: SB);
        await h.WaitingAsync(2);
        h.Graph.Top.SessionGone(LocksHarness.MountA, S1);
        Assert.Equal(Errno.OK, await b.WaitAsync(LocksHarness.Bound));
        Assert.Equal(Errno.OK, await e.WaitAsync(LocksHarness.Bound));
    }

    [Fact]
    public async Task Another_session_of_the_same_mount_keeps_its_locks()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, 0, 10, session: S1));
        Assert.Equal(Errno.OK, await h.Inodelk(A with { Owner = 9 }, "d", Cmd.Lock, LockType.Write, 20, 10, session: S2));
        h.Graph.Top.SessionGone(LocksHarness.MountA, S1);
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write, 0, 10));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write, 20, 10));
    }

    [Fact]
    public async Task A_waiter_of_the_ended_session_fails_and_a_gone_mount_loses_every_domain_lock()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write, session: SB));
        var a = h.Inodelk(A, "d", Cmd.LockBlocking, LockType.Write, session: S1);
        await h.WaitingAsync(1);
        h.Graph.Top.SessionGone(LocksHarness.MountA, S1);
        Assert.Equal(Errno.ENOTCONN, await a.WaitAsync(LocksHarness.Bound));
        h.Graph.Top.ClientGone(LocksHarness.MountB);
        Assert.Equal(0, h.Locks.Counts.DomainHeld);
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, session: S1));
    }
}
