using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>A lock belongs to (mount, lock owner) and to the file by GFID: not to an fd, not to a graph.</summary>
public class LockOwnershipTests
{
    [Fact]
    public async Task One_owner_never_conflicts_with_itself_through_fds_on_different_graphs()
    {
        var h = await LocksHarness.CreateAsync();
        var p = new Proc(LocksHarness.MountA, 7, 700);
        var other = new Proc(LocksHarness.MountA, 8, 800);
        // The same file opened through two graph generations: two inode tables, one GFID.
        var onOld = h.Open(table: new InodeTable());
        var onNew = h.Open(table: new InodeTable());
        Assert.NotSame(onOld.Inode, onNew.Inode);

        Assert.Equal(Errno.OK, await h.SetLk(p, onOld, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(p, onNew, Write, 5, 10));   // overlaps its own lock: merged, no conflict
        Assert.Equal(Errno.OK, await h.SetLk(p, onNew, Read, 0, 20));    // downgrades what it took through the other fd
        Assert.Equal(1, h.Locks.Counts.PosixHeld);
        Assert.Equal(Errno.EAGAIN, await h.SetLk(other, h.Open(), Write, 0, 1)); // but it is one lock on one file for everyone else
        Assert.Equal(Errno.OK, await h.SetLk(p, onOld, Unlock, 0, 0));
        Assert.Equal(Errno.OK, await h.SetLk(other, h.Open(), Write, 0, 1));
    }

    [Fact]
    public async Task The_same_kernel_lock_owner_from_two_mounts_is_two_owners()
    {
        var h = await LocksHarness.CreateAsync();
        var onA = new Proc(LocksHarness.MountA, 42, 1);
        var onB = new Proc(LocksHarness.MountB, 42, 2);
        Assert.Equal(Errno.OK, await h.SetLk(onA, h.Open(), Write, 0, 0));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(onB, h.Open(), Read, 0, 1));
        Assert.Equal(onA.Pid, (await h.GetLk(onB, h.Open(), Read, 0, 0)).Pid);
    }

    [Fact]
    public async Task Locks_on_different_files_are_independent()
    {
        var h = await LocksHarness.CreateAsync();
        var a = new Proc(LocksHarness.MountA, 1, 1);
        var b = new Proc(LocksHarness.MountA, 2, 2);
        Assert.Equal(Errno.OK, await h.SetLk(a, h.Open(), Write, 0, 0));
        Assert.Equal(Errno.OK, await h.SetLk(b, h.Open(Gfid.NewGfid()), Write, 0, 0));
        Assert.Equal(2, h.Locks.Counts.Files);
    }
}

/// <summary>What drops locks: FLUSH (fcntl, per owner), RELEASE (flock, per fd), a client gone for good (everything of a mount).</summary>
public class LockReleaseTests
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc B = new(LocksHarness.MountA, 2, 1002);

    [Fact]
    public async Task Flush_through_any_fd_of_the_file_drops_that_owners_fcntl_locks_only()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa1 = h.Open(), fa2 = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa1, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa1, Read, 20, 10));
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 100, 10));
        Assert.Equal(Errno.OK, await h.Flock(A, fa1, Write));

        Assert.Equal(Errno.OK, await h.Flush(B with { Owner = 99 }, fa2)); // another owner's close changes nothing of A's
        Assert.Equal(3, h.Locks.Counts.PosixHeld);

        Assert.Equal(Errno.OK, await h.Flush(A, fa2)); // close() of a different fd than the one locked through
        Assert.Equal(1, h.Locks.Counts.PosixHeld);
        Assert.Equal(Errno.OK, await h.SetLk(B, fb, Write, 0, 30));
        Assert.Equal(Errno.EAGAIN, await h.SetLk(A, fa1, Write, 100, 1)); // B's lock stayed
        Assert.Equal(1, h.Locks.Counts.FlocksHeld);                       // and flush never drops a flock
        Assert.Equal(2, h.Leaf.Flushes);                                  // flush goes on down
    }

    [Fact]
    public async Task Flush_grants_a_waiter_that_waited_for_the_closing_owner()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 0));
        var waiting = h.SetLkW(B, h.Open(), Write, 0, 10);
        Assert.False(waiting.IsCompleted);
        await h.Flush(A, fa);
        Assert.Equal(Errno.OK, (await waiting.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task Releasing_the_fd_drops_the_flocks_held_through_it_and_nothing_else()
    {
        var h = await LocksHarness.CreateAsync();
        Fd fa = h.Open(), fa2 = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, await h.Flock(A, fa, Write));
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.EAGAIN, await h.Flock(B, fb, Read));

        await h.Locks.ReleaseAsync(fa2); // another fd of the file
        Assert.Equal(Errno.EAGAIN, await h.Flock(B, fb, Read));

        await h.Locks.ReleaseAsync(fa);
        Assert.Equal(Errno.OK, await h.Flock(B, fb, Read));
        Assert.Equal(1, h.Locks.Counts.PosixHeld); // fcntl locks are the owner's: FLUSH drops them, not RELEASE
        Assert.Equal(2, h.Leaf.Releases);
    }

    [Fact]
    public async Task ReleaseClient_drops_everything_of_that_mount_fails_its_waiters_and_serves_the_others()
    {
        var h = await LocksHarness.CreateAsync();
        var a2 = A with { Owner = 3 };
        var other = new Proc(LocksHarness.MountB, 1, 2001); // same owner value, other mount
        Fd fa = h.Open(), fo = h.Open(), fa2 = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.Flock(A, fa, Read));
        Assert.Equal(Errno.OK, await h.SetLk(other, fo, Write, 100, 10));
        var mine = h.SetLkW(a2, fa2, Write, 100, 10);           // A's mount waits for the other mount
        var theirs = h.SetLkW(other, fo, Write, 0, 10);         // the other mount waits for A
        Assert.Equal(2, h.Locks.Counts.Waiting);

        Assert.Equal(3, h.Locks.ReleaseClient(LocksHarness.MountA));
        Assert.Equal(Errno.ENOTCONN, (await mine.WaitAsync(LocksHarness.Bound)).Error);
        Assert.Equal(Errno.OK, (await theirs.WaitAsync(LocksHarness.Bound)).Error);
        var c = h.Locks.Counts;
        Assert.Equal((2, 0, 0), (c.PosixHeld, c.FlocksHeld, c.Waiting));
        Assert.Equal(Errno.OK, await h.Flock(other, fo, Write));
    }

    [Fact]
    public async Task State_of_a_file_is_dropped_once_nothing_is_held_or_waiting()
    {
        var h = await LocksHarness.CreateAsync();
        var fa = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Write, 0, 10));
        Assert.Equal(Errno.OK, await h.Flock(A, fa, Write));
        Assert.Equal(1, h.Locks.Counts.Files);
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 0, 0));
        Assert.Equal(1, h.Locks.Counts.Files);
        await h.Locks.ReleaseAsync(fa);
        Assert.Equal(0, h.Locks.Counts.Files);
        Assert.Empty(h.Locks.DumpState());
        Assert.Equal(Errno.OK, await h.SetLk(A, h.Open(), Write, 0, 10)); // and comes back when needed
        Assert.Single(h.Locks.DumpState());
    }
}
