using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// One client mount holds at most max-locks-per-client locks on the brick, over all its owners,
/// fds and sessions: a lock past it — or an unlock that would split a lock past it — is ENOLCK and
/// changes nothing; merges, releases and rebinds keep the count right; other mounts are not affected.
/// </summary>
public class HeldLocksPerClientAreCapped
{
    private static readonly Proc A1 = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc A2 = new(LocksHarness.MountA, 2, 1002);
    private static readonly Proc B = new(LocksHarness.MountB, 3, 3003);

    private static Task<LocksHarness> Capped() => LocksHarness.CreateAsync(new() { ["max-locks-per-client"] = "3" });

    [Fact]
    public async Task Past_the_cap_a_lock_or_a_splitting_unlock_is_enolck_and_merges_and_releases_keep_the_count()
    {
        var h = await Capped();
        var fd = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Write, 0, 100));
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Write, 200, 10));
        Assert.Equal(Errno.OK, await h.Flock(A2, h.Open(), Read));          // a flock counts too
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A1, fd, Write, 400, 10));
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A2, fd, Read, 500, 1));     // another owner of the same mount
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A1, fd, Unlock, 50, 10));   // would split [0,100) in two
        Assert.Equal(Errno.EAGAIN, await h.SetLk(B, h.Open(), Write, 50, 1)); // refused: nothing was unlocked
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Write, 100, 50));       // merges with [0,100): still three
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Read, 200, 10));        // a conversion in place: still three
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(), Write, 1000, 1));  // another mount has its own count
        Assert.Equal(3, h.Locks.Counts.RefusedOverClientLimit);

        // close(): the owner's two ranges go, and with them their places.
        Assert.Equal(Errno.OK, await h.Locks.FlushAsync(A1.Ctx(), fd));
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Write, 400, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A1, fd, Write, 600, 10));
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A1, fd, Write, 800, 1));

        // A rebind (graph switch) moves the locks to another fd of the same mount: the count stays.
        var moved = h.Open(table: new InodeTable());
        Assert.Equal(2, h.Locks.Rebind(fd, moved).Value);
        await h.Locks.ReleaseAsync(fd);
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A1, moved, Write, 800, 1));
        Assert.Equal(Errno.OK, await h.SetLk(A1, moved, Unlock, 400, 10));
        Assert.Equal(Errno.OK, await h.SetLk(A1, moved, Write, 800, 1));
        Assert.Equal(5, h.Locks.Counts.RefusedOverClientLimit);

        // The mount gone: everything it held goes, and so does its count.
        Assert.True(h.Locks.ReleaseClient(LocksHarness.MountA) >= 3);
        var fresh = h.Open();
        foreach (var start in new long[] { 0, 10, 20 }) Assert.Equal(Errno.OK, await h.SetLk(A1, fresh, Write, start, 1));
        Assert.Equal(Errno.ENOLCK, await h.SetLk(A1, fresh, Write, 30, 1));
    }

    [Fact]
    public async Task A_wait_that_would_pass_the_cap_is_refused_when_queued_or_when_its_turn_comes()
    {
        var h = await Capped();
        Fd a = h.Open(), b = h.Open();
        Assert.Equal(Errno.OK, await h.SetLk(A1, a, Write, 0, 1));
        Assert.Equal(Errno.OK, await h.SetLk(B, b, Write, 10, 1));
        var waiting = h.SetLkW(A1, a, Write, 10, 1);      // within the cap when it queues
        Assert.Equal(1, h.Locks.Counts.Waiting);
        Assert.Equal(Errno.OK, await h.SetLk(A1, a, Write, 20, 1));
        Assert.Equal(Errno.OK, await h.SetLk(A1, a, Write, 30, 1));   // three held now
        Assert.Equal(Errno.ENOLCK, (await h.SetLkW(A2, a, Write, 10, 1).WaitAsync(LocksHarness.Bound)).Error); // refused at once

        Assert.Equal(Errno.OK, await h.SetLk(B, b, Unlock, 10, 1));
        Assert.Equal(Errno.ENOLCK, (await waiting.WaitAsync(LocksHarness.Bound)).Error);   // its turn, past the cap
        Assert.Equal(0, h.Locks.Counts.Waiting);
        Assert.Equal(Errno.OK, await h.SetLk(B, b, Write, 10, 1));   // nothing was granted to A
        Assert.Equal(2, h.Locks.Counts.RefusedOverClientLimit);
    }
}
