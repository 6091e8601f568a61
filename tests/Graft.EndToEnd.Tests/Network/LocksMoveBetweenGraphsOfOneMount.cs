using Graft.Core;
using Graft.Xlators.Tests.Protocol;
using static Graft.Core.LockType;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A graph switch over the wire, against a brick process: the mount opens the file on its new
/// graph (a second protocol/client of the same mount identity, its own session on the brick),
/// re-binds the locks from the old fd to the new one in one request, and only then releases the
/// old fd and retires the old graph. Held fcntl locks and flocks are never free in between (another
/// mount probes all along), and a SETLKW waiting through the switch keeps its place and is granted
/// exactly once. Another mount cannot re-bind this mount's fds.
/// </summary>
public class LocksMoveBetweenGraphsOfOneMount
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private const ulong Holder = 1, Waiter = 2, FlockOwner = 0xf10c, Prober = 9;

    [Fact]
    public async Task Held_locks_and_a_waiting_setlkw_move_to_the_new_graph_with_no_moment_free_and_the_waiter_is_granted_once()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        var mount = Guid.NewGuid();
        var g1 = await WireMount.ConnectAsync(brick.Port, "b", mount, generation: 1);
        var other = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        var (holderOld, gfid) = await g1.CreateAsync("locked");
        var waiterOld = await g1.OpenAsync(gfid);
        var probe = await other.OpenAsync(gfid);

        // The holder has bytes 0-9 and a flock; the waiter wants 0-19; a process of the other mount
        // wants 15-24 and queues behind the waiter (it conflicts with the waiter's request only).
        Assert.Equal(Errno.OK, await g1.SetLk(holderOld, WireMount.Range(Write, 0, 10, Holder, 101)));
        Assert.Equal(Errno.OK, await g1.SetLk(holderOld, WireMount.Flock(Write, FlockOwner, 101)));
        using var oldCall = new CancellationTokenSource();
        var waitOld = g1.Lk(waiterOld, LockCmd.SetLkW, WireMount.Range(Write, 0, 20, Waiter, 102), oldCall.Token);
        await QueuedAsync(other, probe, 12, "the waiter");
        var queuedBehind = other.Lk(probe, LockCmd.SetLkW, WireMount.Range(Write, 15, 10, Prober + 1, 901));
        await QueuedAsync(other, probe, 22, "the request behind it");

        // The other mount probes, non-blocking, for the whole switch: never once may it get in.
        using var stopProbing = new CancellationTokenSource();
        int probes = 0;
        var prober = Task.Run(async () =>
        {
            while (!stopProbing.IsCancellationRequested)
            {
                var r = await other.SetLk(probe, WireMount.Range(Read, 5, 1, Prober, 900));
                var f = await other.SetLk(probe, WireMount.Flock(Read, Prober, 900));
                if (r != Errno.EAGAIN || f != Errno.EAGAIN) return $"probe {probes} got in: fcntl {r.Name()}, flock {f.Name()}";
                Interlocked.Increment(ref probes);
            }
            return null;
        });
        await NetClient.Until(() => Volatile.Read(ref probes) >= 5, "probing");

        // The switch: open on the new graph, re-bind, end the old graph's call, re-send it through
        // the new fd (it joins its queued self, which kept its place meanwhile), release the old
        // fds and retire the old graph.
        var g2 = await WireMount.ConnectAsync(brick.Port, "b", mount, generation: 2);
        var holderNew = await g2.OpenAsync(gfid);
        var waiterNew = await g2.OpenAsync(gfid);
        Assert.Equal(2, (await g2.RebindAsync(holderOld, holderNew)).Value);  // the fcntl range and the flock
        Assert.Equal(1, (await g2.RebindAsync(waiterOld, waiterNew)).Value);  // the waiting request
        oldCall.Cancel();
        Assert.Equal(Errno.EINTR, (await waitOld.WaitAsync(Bound)).Error);
        var waitNew = g2.Lk(waiterNew, LockCmd.SetLkW, WireMount.Range(Write, 0, 20, Waiter, 102));
        await g1.ReleaseAsync(holderOld);
        await g1.ReleaseAsync(waiterOld);
        await g1.StopAsync();
        await brick.WaitForLogAsync("clean disconnect"); // the old session is gone
        await NetClient.Until(() => Volatile.Read(ref probes) >= 20, "probing after the switch");
        stopProbing.Cancel();
        Assert.Null(await prober.WaitAsync(Bound));
        await QueuedAsync(other, probe, 12, "the waiter, after the switch"); // 10-14: only the waiter wants them
        Assert.False(waitNew.IsCompleted || queuedBehind.IsCompleted);

        // The holder unlocks through the new graph: the waiter, still first in line, gets it once.
        Assert.Equal(Errno.OK, await g2.SetLk(holderNew, WireMount.Range(Unlock, 0, 0, Holder, 101)));
        var granted = await waitNew.WaitAsync(Bound);
        Assert.Equal((Errno.OK, 0L, 20L), (granted.Error, granted.Value.Start, granted.Value.Length));
        var holder = await other.Lk(probe, LockCmd.GetLk, WireMount.Range(Write, 0, 0, Prober, 900));
        Assert.Equal((Write, 0L, 20L, 102), (holder.Value.Type, holder.Value.Start, holder.Value.Length, holder.Value.Pid));
        Assert.False(queuedBehind.IsCompleted);
        Assert.Equal(Errno.EAGAIN, await other.SetLk(probe, WireMount.Flock(Read, Prober, 900))); // the flock moved too

        // Closing: the waiter's lock goes on FLUSH (then the one behind it is served), the flock with its fd.
        Assert.Equal(Errno.OK, await g2.FlushAsync(waiterNew, Waiter));
        Assert.Equal(Errno.OK, (await queuedBehind.WaitAsync(Bound)).Error);
        await g2.ReleaseAsync(holderNew);
        Assert.Equal(Errno.OK, await other.SetLk(probe, WireMount.Flock(Read, Prober, 900)));

        await g2.ReleaseAsync(waiterNew);
        await other.ReleaseAsync(probe);
        await g2.StopAsync();
        await other.StopAsync();
        Directory.Delete(temp, true);
    }

    /// <summary>
    /// Waits (bounded) until a write request covering <paramref name="at"/> is queued on the brick:
    /// a read lock there, held by nobody, is refused only because a queued writer wants it first
    /// (the queue is fair). A probe that got in lets go and tries again.
    /// </summary>
    private static async Task QueuedAsync(WireMount m, Fd fd, long at, string what)
    {
        var deadline = Environment.TickCount64 + 15000;
        while (true)
        {
            var e = await m.SetLk(fd, WireMount.Range(Read, at, 1, Prober + 7, 907));
            if (e == Errno.EAGAIN) return;
            Assert.Equal(Errno.OK, e);
            Assert.Equal(Errno.OK, await m.SetLk(fd, WireMount.Range(Unlock, at, 1, Prober + 7, 907)));
            Assert.True(Environment.TickCount64 < deadline, $"{what} never queued on the brick");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_rebind_naming_another_mounts_session_or_an_fd_of_no_session_moves_nothing()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        var a = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        var thief = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        var (fa, gfid) = await a.CreateAsync("locked");
        var ft = await thief.OpenAsync(gfid);
        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Write, 0, 0, Holder, 101)));
        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Flock(Write, FlockOwner, 101)));

        // The brick finds a's session by its instance, but it is not the caller's mount: EBADF.
        Assert.Equal(Errno.EBADF, (await thief.RebindAsync(fa, ft)).Error);
        // An fd no client of this brick opened cannot name a session at all.
        var stray = FopScenario.NewFd(thief.Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EINVAL, (await thief.RebindAsync(stray, ft)).Error);

        await thief.ReleaseAsync(ft); // had the flock moved to ft, this would drop it
        ft = await thief.OpenAsync(gfid);
        Assert.Equal(Errno.EAGAIN, await thief.SetLk(ft, WireMount.Range(Read, 0, 1, Prober, 900)));
        Assert.Equal(Errno.EAGAIN, await thief.SetLk(ft, WireMount.Flock(Read, Prober, 900)));
        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Unlock, 0, 0, Holder, 101)));
        Assert.Equal(Errno.OK, await thief.SetLk(ft, WireMount.Range(Read, 0, 1, Prober, 900)));

        await a.ReleaseAsync(fa);
        await thief.ReleaseAsync(ft);
        await FopScenario.Release(thief.Graph.Top, stray);
        await a.StopAsync();
        await thief.StopAsync();
        Directory.Delete(temp, true);
    }

    [Fact]
    public async Task After_a_rebind_the_old_graphs_goodbye_leaves_the_locks_and_the_mounts_last_goodbye_frees_them_for_a_waiting_mount()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        var mount = Guid.NewGuid();
        var g1 = await WireMount.ConnectAsync(brick.Port, "b", mount, generation: 1);
        var other = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        var (fOld, gfid) = await g1.CreateAsync("locked");
        var probe = await other.OpenAsync(gfid);
        Assert.Equal(Errno.OK, await g1.SetLk(fOld, WireMount.Range(Write, 0, 0, Holder, 101)));
        Assert.Equal(Errno.OK, await g1.SetLk(fOld, WireMount.Flock(Write, FlockOwner, 101)));

        var g2 = await WireMount.ConnectAsync(brick.Port, "b", mount, generation: 2);
        var fNew = await g2.OpenAsync(gfid);
        Assert.Equal(2, (await g2.RebindAsync(fOld, fNew)).Value);
        await g1.ReleaseAsync(fOld);
        await g1.StopAsync(); // goodbye of the old graph: its session and fds go, the locks stay
        await brick.WaitForLogAsync("clean disconnect"); // the old session is gone
        Assert.Equal(Errno.EAGAIN, await other.SetLk(probe, WireMount.Range(Read, 0, 1, Prober, 900)));
        Assert.Equal(Errno.EAGAIN, await other.SetLk(probe, WireMount.Flock(Read, Prober, 900)));

        var fcntlWaiter = other.Lk(probe, LockCmd.SetLkW, WireMount.Range(Write, 0, 0, Prober, 900));
        var flockWaiter = other.Lk(probe, LockCmd.SetLkW, WireMount.Flock(Write, Prober + 1, 901));
        await Task.Delay(200);
        Assert.False(fcntlWaiter.IsCompleted || flockWaiter.IsCompleted); // queued or not yet arrived: either way not granted
        await g2.StopAsync(); // the mount's last session: everything it held goes
        Assert.Equal(Errno.OK, (await fcntlWaiter.WaitAsync(Bound)).Error);
        Assert.Equal(Errno.OK, (await flockWaiter.WaitAsync(Bound)).Error);
        await brick.WaitForLogAsync($"mount {mount:N} is gone");

        _ = fNew;
        await other.ReleaseAsync(probe);
        await other.StopAsync();
        Directory.Delete(temp, true);
    }
}
