using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>flock(2) whole-file locks: owned by the open file, independent of fcntl locks.</summary>
public class FlockTests
{
    // For flock, FUSE passes the open file as the lock owner: one Proc per open file here.
    private static readonly Proc FileA = new(LocksHarness.MountA, 0xA, 1001);
    private static readonly Proc FileB = new(LocksHarness.MountA, 0xB, 1002);

    [Fact]
    public async Task Shared_flocks_coexist_and_an_exclusive_one_excludes_everything_else()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        var fileC = FileA with { Owner = 0xC };
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Read));
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Read));
        Assert.Equal(Errno.EAGAIN, await h.Flock(fileC, h.Open(), Write));
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Unlock));
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Unlock));
        Assert.Equal(Errno.OK, await h.Flock(fileC, h.Open(), Write));
        Assert.Equal(Errno.EAGAIN, await h.Flock(FileA, fa, Read));
    }

    [Fact]
    public async Task A_flock_and_an_fcntl_lock_never_conflict()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        var procB = new Proc(LocksHarness.MountA, 0xB0, 1002);
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Write));
        Assert.Equal(Errno.OK, await h.SetLk(procB, fb, Write, 0, 0)); // whole file, exclusively, by fcntl
        Assert.Equal(Unlock, (await h.GetLk(procB, fb, Write, 0, 0)).Type);
        Assert.Equal(Errno.EAGAIN, await h.Flock(FileB, fb, Read)); // flocks still exclude flocks
        Assert.Equal(Errno.EAGAIN, await h.SetLk(FileA, fa, Read, 0, 1)); // and fcntl excludes fcntl
        var c = h.Locks.Counts;
        Assert.Equal((1, 1), (c.PosixHeld, c.FlocksHeld));
    }

    [Fact]
    public async Task Conversion_between_shared_and_exclusive_keeps_one_lock_and_a_failed_nonblocking_one_keeps_the_old()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Read));
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Read));
        Assert.Equal(Errno.EAGAIN, await h.Flock(FileA, fa, Write)); // B shares it
        Assert.Equal(Errno.EAGAIN, await h.Flock(FileA with { Owner = 0xC }, h.Open(), Write)); // A still holds shared
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Unlock));
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Write));     // upgrade
        Assert.Equal(1, h.Locks.Counts.FlocksHeld);
        Assert.Equal(Errno.EAGAIN, await h.Flock(FileB, fb, Read));
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Read));      // downgrade
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Read));
        Assert.Equal(2, h.Locks.Counts.FlocksHeld);
    }

    [Fact]
    public async Task Two_shared_holders_upgrading_with_wait_do_not_deadlock()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Read));
        Assert.Equal(Errno.OK, await h.Flock(FileB, fb, Read));
        var a = h.FlockW(FileA, fa, Write); // lets go of its shared lock, waits for B's
        Assert.False(a.IsCompleted);
        var b = h.FlockW(FileB, fb, Write); // lets go of B's shared lock: A is served first
        Assert.Equal(Errno.OK, (await a.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(b.IsCompleted);
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Unlock));
        Assert.Equal(Errno.OK, (await b.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_waiting_flock_is_granted_when_the_holding_fd_is_released()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.Flock(FileA, fa, Write));
        var b = h.FlockW(FileB, fb, Write);
        Assert.False(b.IsCompleted);
        await h.Locks.ReleaseAsync(fa);
        var r = await b.WaitAsync(LocksHarness.Bound);
        Assert.Equal(Errno.OK, r.Error);
        Assert.True(r.Value.Flock);
    }
}
