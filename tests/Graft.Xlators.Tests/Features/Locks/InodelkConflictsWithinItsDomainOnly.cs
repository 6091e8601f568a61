using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>inodelk: byte-range read/write conflicts between owners within one domain, and nowhere else.</summary>
public class InodelkConflictsWithinItsDomainOnly
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 1, 200);

    [Fact]
    public async Task A_write_lock_excludes_other_owners_on_overlapping_bytes_only()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, 0, 100));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write, 50, 10));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "d", Cmd.Lock, LockType.Read, 99, 0));   // 99..EOF overlaps
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write, 100, 10));
        Assert.Equal(2, h.Locks.Counts.DomainConflicts);
    }

    [Fact]
    public async Task Read_locks_share_and_one_owner_never_conflicts_with_itself()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Unlock, LockType.Read));
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Write));   // B holds a read and a write: its own
        Assert.Equal(2, h.Locks.Counts.DomainHeld);
    }

    [Fact]
    public async Task Domains_are_independent_of_each_other_and_of_fcntl_locks()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "replicate", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.OK, await h.Inodelk(B, "other", Cmd.Lock, LockType.Write));
        var fd = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(B, fd, LockType.Write, 0, 0));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "replicate", Cmd.Lock, LockType.Write));
        // An entrylk on the same object in the same domain is another kind of lock: no conflict.
        Assert.Equal(Errno.OK, await h.Entrylk(B, "replicate", null, Cmd.Lock, LockType.Write));
    }

    [Fact]
    public async Task An_unlock_drops_exactly_the_range_locked_and_one_of_a_lock_not_held_is_EINVAL()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, 0, 10));
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "d", Cmd.Unlock, LockType.Write, 0, 5));   // not the range held
        Assert.Equal(Errno.EINVAL, await h.Inodelk(B, "d", Cmd.Unlock, LockType.Write, 0, 10));  // not B's
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "other", Cmd.Unlock, LockType.Write, 0, 10));
        Assert.Equal(Errno.EAGAIN, await h.Inodelk(B, "d", Cmd.Lock, LockType.Read, 3, 1));
        Assert.Equal(Errno.OK, await h.Inodelk(A, "d", Cmd.Unlock, LockType.Write, 0, 10));
        Assert.Equal(Errno.OK, await h.Inodelk(B, "d", Cmd.Lock, LockType.Read, 3, 1));
        Assert.Equal(3, h.Locks.Counts.DomainBadUnlocks);
    }

    [Fact]
    public async Task Bad_arguments_are_EINVAL()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "d", Cmd.Lock, LockType.Unlock));
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, -1, 1));
        Assert.Equal(Errno.EINVAL, await h.Inodelk(A, "d", Cmd.Lock, LockType.Write, long.MaxValue, 2));
        Assert.Equal(0, h.Locks.Counts.DomainHeld);
    }
}
