using Graft.Client;
using Graft.Core;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Retirement;
using Graft.Mount;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// The library's lock API (each stream is a lock owner, like an OFD lock) over a real brick
/// process, and what a graph switch must not do to locks: free one, duplicate one, or lose a waiter.
/// </summary>
public class LockedStreamsAcrossSwitches
{
    private static Task<GraftFileStream> OpenAsync(NetVolume v, string name) =>
        v.Volume.OpenAsync("/" + name, FileMode.OpenOrCreate, FileAccess.ReadWrite);

    [Fact]
    public async Task Each_stream_owns_its_locks_ranges_split_and_dispose_releases_them()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        var a = await OpenAsync(v, "f");
        await using var b = await OpenAsync(v, "f");

        Assert.True(await a.TryLockRangeAsync(0, 100, exclusive: true));
        Assert.False(await b.TryLockRangeAsync(50, 1, exclusive: false));
        var holder = await b.GetConflictingLockAsync(50, 1, exclusive: false);
        Assert.NotNull(holder);
        Assert.Equal((LockType.Write, 0L, 100L), (holder.Value.Type, holder.Value.Start, holder.Value.Length));

        // Unlocking the middle splits the lock: the middle is free, both ends are still held.
        await a.UnlockRangeAsync(40, 20);
        Assert.True(await b.TryLockRangeAsync(45, 10, exclusive: true));
        Assert.False(await b.TryLockRangeAsync(39, 1, exclusive: false));
        Assert.False(await b.TryLockRangeAsync(60, 1, exclusive: false));

        // flock is independent of fcntl locks.
        Assert.True(await a.TryLockFileAsync(exclusive: true));
        Assert.False(await b.TryLockFileAsync(exclusive: false));

        await a.DisposeAsync();
        Assert.True(await b.TryLockRangeAsync(0, 0, exclusive: true));
        Assert.True(await b.TryLockFileAsync(exclusive: true));
    }

    [Fact]
    public async Task Held_range_and_flock_locks_stay_held_through_50_switches_and_old_graphs_still_retire()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        await using var ranged = await OpenAsync(v, "f");
        await using var flocked = await OpenAsync(v, "f");
        await using var prober = await OpenAsync(v, "f");
        Assert.True(await ranged.TryLockRangeAsync(0, 0, exclusive: true));
        Assert.True(await flocked.TryLockFileAsync(exclusive: true));

        for (int i = 0; i < 50; i++)
        {
            await v.ApplyAsync(writeBehind: i % 2 == 0);
            // The holders are idle: they move when the sweep (or the probe's own file) gets to them.
            Assert.False(await prober.TryLockRangeAsync(0, 1, exclusive: false), $"range lock free after switch {i + 1}");
            Assert.False(await prober.TryLockFileAsync(exclusive: false), $"flock free after switch {i + 1}");
        }
        await v.WaitOneGraphAsync(TimeSpan.FromSeconds(60));
        Assert.True(v.State.Counters.LocksRebound > 0, v.State.ToJson());
        Assert.Equal(0, v.State.Counters.LocksLost);

        // Still held after every old graph is gone, and released exactly when the holder says.
        Assert.False(await prober.TryLockRangeAsync(0, 1, exclusive: false));
        await ranged.UnlockRangeAsync(0, 0);
        Assert.True(await prober.TryLockRangeAsync(0, 1, exclusive: true));
        Assert.False(await prober.TryLockFileAsync(exclusive: false));
        await flocked.UnlockFileAsync();
        Assert.True(await prober.TryLockFileAsync(exclusive: true));
    }

    [Fact]
    public async Task A_waiting_lock_moves_through_20_switches_and_is_granted_once_when_the_holder_unlocks()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        await using var holder = await OpenAsync(v, "f");
        await using var waiter = await OpenAsync(v, "f");
        await using var third = await OpenAsync(v, "f");
        Assert.True(await holder.TryLockRangeAsync(0, 0, exclusive: true));

        var wait = waiter.LockRangeAsync(0, 0, exclusive: true).AsTask();
        for (int i = 1; i <= 20; i++)
        {
            await v.ApplyAsync(writeBehind: i % 2 == 1);
            // The wait was in flight on the graph that was just replaced, and moved to the new one.
            await Proc.Until(() => v.State.Counters.LockWaitsMoved >= i, $"the wait moved {i} times", seconds: 30);
            Assert.False(wait.IsCompleted, $"the wait ended at switch {i}: {(wait.IsFaulted ? wait.Exception!.InnerException!.Message : "granted")}");
            Assert.False(await third.TryLockRangeAsync(0, 1, exclusive: false), $"the lock was free after switch {i}");
        }
        Assert.Equal(20, v.State.Counters.LockWaitsMoved);
        // Waiting does not keep old graphs alive.
        await v.WaitOneGraphAsync(TimeSpan.FromSeconds(60));

        await holder.UnlockRangeAsync(0, 0);
        await wait.WaitAsync(TimeSpan.FromSeconds(30));
        // The waiter holds it now, once: the third party is refused, and free after one unlock.
        Assert.False(await third.TryLockRangeAsync(0, 1, exclusive: false));
        await waiter.UnlockRangeAsync(0, 0);
        Assert.True(await third.TryLockRangeAsync(0, 0, exclusive: true));
    }

    [Fact]
    public async Task A_cancelled_wait_leaves_the_queue()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        await using var holder = await OpenAsync(v, "f");
        await using var waiter = await OpenAsync(v, "f");
        await using var third = await OpenAsync(v, "f");
        Assert.True(await holder.TryLockRangeAsync(0, 0, exclusive: true));
        using var cts = new CancellationTokenSource();
        var wait = waiter.LockRangeAsync(0, 0, exclusive: true, cts.Token).AsTask();
        await v.ApplyAsync(writeBehind: true);
        await Proc.Until(() => v.State.Counters.LockWaitsMoved >= 1, "the wait moved", seconds: 30);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(30)));
        await holder.UnlockRangeAsync(0, 0);
        // Nobody waits any more: the lock is free for the third stream, not given to the cancelled one.
        Assert.True(await third.TryLockRangeAsync(0, 0, exclusive: true));
    }

    [Fact]
    public async Task A_file_whose_locks_cannot_be_re_bound_fails_closed_and_its_lock_stays_held_until_it_is_closed()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        var holder = await OpenAsync(v, "f");
        Assert.True(await holder.TryLockRangeAsync(0, 0, exclusive: true));

        // The new graph refuses every rebind (as a brick without a lock manager would).
        await v.ApplyAsync(writeBehind: false, faults: "    option fail rebindlocks\n    option fail-errno EINVAL\n");
        var e = await Assert.ThrowsAsync<GraftIOException>(async () => await holder.StatAsync());
        Assert.Equal(Errno.EIO, e.Errno);
        // Every later call: EIO, never a quiet success on an unlocked file.
        Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await holder.ReadExactlyAsync(new byte[1]))).Errno);
        Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await holder.TryLockRangeAsync(0, 1, exclusive: false))).Errno);
        Assert.Equal(1, v.State.Counters.LocksLost);

        await using var prober = await OpenAsync(v, "f"); // opened on the new graph: nothing to re-bind
        Assert.False(await prober.TryLockRangeAsync(0, 1, exclusive: false)); // still held
        // close(2) reports the failure too, and still releases the owner's lock on the brick.
        Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await holder.DisposeAsync())).Errno);
        Assert.True(await prober.TryLockRangeAsync(0, 1, exclusive: true));
    }

    [Fact]
    public async Task Locks_move_to_a_graph_that_names_the_same_brick_by_another_host_name()
    {
        await using var v = await NetVolume.StartAsync(writeBehind: false);
        await using var holder = await OpenAsync(v, "f");
        Assert.True(await holder.TryLockRangeAsync(0, 0, exclusive: true));
        var renamed = NetVolume.Volfile(v.BrickProcess.Port, writeBehind: true).Replace("remote-host 127.0.0.1", "remote-host localhost");
        var r = await v.Volume.ApplyVolfileAsync(renamed, "client.vol");
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        await holder.StatAsync(); // moves the file: its lock is re-bound, not lost
        Assert.Equal(0, v.State.Counters.LocksLost);
        Assert.True(v.State.Counters.LocksRebound >= 1);
        await using var prober = await OpenAsync(v, "f");
        Assert.False(await prober.TryLockRangeAsync(0, 1, exclusive: false));
    }
}
