using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>fcntl byte ranges: conflicts, GETLK, split, merge, upgrade and downgrade.</summary>
public class ByteRangeLockTests
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc B = new(LocksHarness.MountA, 2, 1002);

    [Fact]
    public async Task Conflicting_ranges_of_other_owners_get_EAGAIN_and_compatible_ones_are_granted()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 100, 100));   // [100, 199]
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Write, 150, 10));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Read, 199, 1));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Read, 0, 0));     // to EOF: overlaps
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 0, 100));      // [0, 99]: adjacent only
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 200, 0));      // [200, EOF]
        Assert.Equal(Errno.EAGAIN, await h.SetLk(A, fa, Read, 1L << 40, 1)); // far out, still under B's EOF lock
        Assert.Equal(3, h.Locks.Counts.PosixHeld);
        Assert.Equal(4, h.Locks.Counts.Conflicts);
    }

    [Fact]
    public async Task Read_locks_are_shared_between_owners()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Read, 0, 0));
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(), Read, 10, 10));
        Assert.Equal(2, h.Locks.Counts.PosixHeld);
    }

    [Fact]
    public async Task GETLK_reports_the_first_conflicting_lock_with_its_holders_pid_or_Unlock_when_free()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 50, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 10, 10));

        var c = await h.GetLk(B, fb, Write, 0, 0);
        Assert.Equal((Read, 10L, 10L, A.Pid), (c.Type, c.Start, c.Length, c.Pid)); // lowest conflicting start first

        c = await h.GetLk(B, fb, Read, 0, 0); // a read is only excluded by the write
        Assert.Equal((Write, 50L, 10L, A.Pid), (c.Type, c.Start, c.Length, c.Pid));

        Assert.Equal(Unlock, (await h.GetLk(B, fb, Write, 20, 30)).Type); // the gap
        Assert.Equal(Unlock, (await h.GetLk(A, fa, Write, 0, 0)).Type);   // an owner never conflicts with itself
        Assert.Equal(2, h.Locks.Counts.Granted); // GETLK takes nothing
    }

    [Fact]
    public async Task GETLK_with_type_Unlock_and_ranges_starting_before_zero_are_EINVAL()
    {
        var h = await LocksHarness.CreateAsync();
        var fd = h.Open();
        var r = await h.Locks.LkAsync(A.Ctx(), fd, LockCmd.GetLk, LocksHarness.Range(A, Unlock, 0, 0));
        Assert.Equal(Errno.EINVAL, r.Error);
        Assert.Equal(Errno.EINVAL, await h.SetLk(A, fd, Write, -1, 10));
        Assert.Equal(Errno.EINVAL, await h.SetLk(A, fd, Write, 5, -10));
    }

    [Fact]
    public async Task A_negative_length_locks_the_bytes_before_start()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 100, -10)); // [90, 99]
        var c = await h.GetLk(B, h.Open(), Read, 0, 0);
        Assert.Equal((90L, 10L), (c.Start, c.Length));
    }

    [Fact]
    public async Task Unlocking_the_middle_of_a_lock_splits_it_in_two()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 100));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 40, 20));
        Assert.Equal(2, h.Locks.Counts.PosixHeld);

        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 40, 20)); // the hole is free
        var left = await h.GetLk(B, fb, Write, 0, 40);
        var right = await h.GetLk(B, fb, Write, 60, 0);
        Assert.Equal((Write, 0L, 40L), (left.Type, left.Start, left.Length));
        Assert.Equal((Write, 60L, 40L), (right.Type, right.Start, right.Length));
    }

    [Fact]
    public async Task Unlocking_a_range_that_covers_several_locks_removes_them_and_trims_the_edges()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 20, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 40, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 5, 40)); // [5, 44]
        var c = await h.GetLk(B, h.Open(), Write, 0, 0);
        Assert.Equal((0L, 5L), (c.Start, c.Length));
        c = await h.GetLk(B, h.Open(), Write, 5, 0);
        Assert.Equal((45L, 5L), (c.Start, c.Length));
        Assert.Equal(2, h.Locks.Counts.PosixHeld);
    }

    [Fact]
    public async Task Adjacent_and_overlapping_locks_of_one_owner_and_type_merge_into_one()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 10, 10));  // adjacent: [0, 19]
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 30, 10));  // separate: [30, 39]
        Assert.Equal(2, h.Locks.Counts.PosixHeld);
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 15, 20));  // bridges both: [0, 39]
        Assert.Equal(1, h.Locks.Counts.PosixHeld);
        var c = await h.GetLk(B, h.Open(), Write, 0, 0);
        Assert.Equal((Read, 0L, 40L), (c.Type, c.Start, c.Length));

        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 40, 10)); // adjacent but another type: no merge
        Assert.Equal(2, h.Locks.Counts.PosixHeld);
    }

    [Fact]
    public async Task Upgrade_waits_for_other_readers_and_downgrade_of_a_part_lets_readers_in_there_only()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 0, 100));
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Read, 0, 100));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(A, fa, Write, 0, 100)); // upgrade refused while B reads
        Assert.Equal(Read, (await h.GetLk(B, fb, Write, 0, 0)).Type);   // and A still holds its read lock

        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Unlock, 0, 0));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 100));    // upgrade
        Assert.Equal(1, h.Locks.Counts.PosixHeld);
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Read, 50, 10));

        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Read, 50, 10));     // downgrade [50, 59]
        Assert.Equal(3, h.Locks.Counts.PosixHeld);                      // W[0,49] R[50,59] W[60,99]
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Read, 50, 10));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Read, 49, 2));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, fb, Write, 50, 10)); // A still reads there
    }
}
