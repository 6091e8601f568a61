using System.Diagnostics;
using System.Threading.Channels;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

// Retirement of old graphs (DESIGN invariants 3, 6 and 8). It runs beside the switch and never
// delays it. The old graph is held by a count of fops in flight and of handles whose hint points
// into it (GraphSet); the last to leave signals Graph.Idle, which is all retirement waits for.
// Handles that sit idle on the old graph are moved forward by a sweep at a bounded rate: one pass
// over the open files and nodes finds those there at the start, and any handle that takes a hint
// on the old graph later is queued for the sweep by the GraphSet. Once idle, the old graph gets
// PARENT_DOWN and, when that is handled, it is destroyed. A fop that never comes back (a lost
// frame) delays this at most by RetirementTimeout: then teardown is forced, which fails such
// calls with ENOTCONN.
public sealed partial class MountSession
{
    private readonly CancellationTokenSource _retirementsStop = new(); // unmount: DisposeAsync tears every graph down

    /// <summary>How long the sweep waits before it tries again to move a handle that could not move (its brick unreachable, say).</summary>
    private static readonly TimeSpan SweepRetryPause = TimeSpan.FromMilliseconds(50);

    private async Task RetireAsync(Graph old, ChannelReader<IHandle> late)
    {
        var clock = Stopwatch.StartNew();
        var timeout = Options.RetirementTimeout;
        var stop = _retirementsStop.Token;
        bool forced = false;
        try
        {
            // Give busy handles the chance to move on their own first; the sweep is for idle ones.
            // (Never past the retirement bound, which stays the bound.)
            var first = Options.SweepDelay < timeout ? Options.SweepDelay : timeout;
            await Task.WhenAny(old.Idle, Task.Delay(first, stop)).ConfigureAwait(false);
            if (stop.IsCancellationRequested) return;
            if (!old.Idle.IsCompleted) forced = !await SweepAsync(old, late, timeout - clock.Elapsed, stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested) return;

            old.SendParentDown();
            // Forced or not, PARENT_DOWN gets what is left of the bound (at least a moment).
            var left = timeout - clock.Elapsed;
            if (left < TimeSpan.FromMilliseconds(200)) left = TimeSpan.FromMilliseconds(200);
            try { await old.ParentDownHandled.WaitAsync(left).ConfigureAwait(false); }
            catch (TimeoutException) { forced = true; }
        }
        catch (Exception e)
        {
            forced = true;
            LogRetireFailed(_log, e, old.Generation);
        }
        if (forced)
        {
            Interlocked.Increment(ref _counters.RetirementsForced);
            LogRetirementForced(_log, old.Generation, timeout, old.FopsInFlight, old.Hints);
        }
        await old.DestroyAsync().ConfigureAwait(false);
        _graphs.Remove(old);
        Interlocked.Increment(ref _counters.GraphsDestroyed);
        LogRetired(_log, old.Generation, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>
    /// Moves the handles that hold <paramref name="old"/> to the active graph, at most
    /// <see cref="MountOptions.SweepRate"/> a second, exactly as a fop on them would (so the same
    /// single-flight rules apply), until the graph is idle (true) or <paramref name="budget"/> has
    /// passed (false). Each move is waited for only within the budget: a move can be held by the old
    /// graph itself (its barrier waits for a write that never comes back), and only the teardown
    /// this bound leads to can free it — the move then finishes on its own.
    /// </summary>
    private async Task<bool> SweepAsync(Graph old, ChannelReader<IHandle> late, TimeSpan budget, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var deadline = Task.Delay(budget > TimeSpan.Zero ? budget : TimeSpan.Zero, stop);
        var perHandle = TimeSpan.FromSeconds(1.0 / Math.Max(1, Options.SweepRate));
        var work = new Queue<IHandle>(HoldersOf(old)); // the one pass over files and nodes
        var again = new List<IHandle>();                // could not move: tried again after a pause
        int done = 0;
        while (true)
        {
            while (late.TryRead(out var l)) work.Enqueue(l);
            if (old.Idle.IsCompleted) return true;
            if (deadline.IsCompleted) return false;
            if (work.TryDequeue(out var h))
            {
                if (!Holds(h, old)) continue; // moved on its own meanwhile (or queued twice)
                var move = MoveAsync(h, old);
                await Task.WhenAny(move, deadline).ConfigureAwait(false);
                if (!move.IsCompleted) return false;
                if (Holds(h, old)) again.Add(h);
                else Interlocked.Increment(ref _counters.HandlesSwept);
                var due = perHandle * ++done - clock.Elapsed;
                if (due > TimeSpan.Zero) await Task.WhenAny(Task.Delay(due, stop), deadline).ConfigureAwait(false);
                continue;
            }
            // Nothing to move now: wait for the last fop to leave, a late handle, or the pause before a retry.
            var lateArrival = late.WaitToReadAsync(stop).AsTask();
            if (again.Count == 0) await Task.WhenAny(old.Idle, deadline, lateArrival).ConfigureAwait(false);
            else
            {
                var pause = Task.Delay(SweepRetryPause, stop);
                await Task.WhenAny(old.Idle, deadline, lateArrival, pause).ConfigureAwait(false);
                if (pause.IsCompleted) { foreach (var r in again) work.Enqueue(r); again.Clear(); }
            }
        }
    }

    /// <summary>Open files whose fd, and nodes whose inode, still hold <paramref name="g"/>.</summary>
    private List<IHandle> HoldersOf(Graph g)
    {
        var all = new List<IHandle>();
        foreach (var f in _files.Snapshot())
            if (Holds(f, g)) all.Add(f);
        _nodes.AddHoldersOf(g, all);
        return all;
    }

    private static bool Holds(IHandle h, Graph g) => h switch
    {
        MountFile f => !f.Released && ReferenceEquals(f.HintGraph, g),
        MountNode n => ReferenceEquals(n.HintGraph, g),
        _ => false,
    };

    private Task MoveAsync(IHandle h, Graph old) => h switch
    {
        MountFile f => SweepFileAsync(f),
        MountNode n => SweepNodeAsync(n, old),
        _ => Task.CompletedTask,
    };

    private async Task SweepFileAsync(MountFile f)
    {
        try
        {
            var (lease, r) = await EnterFileAsync(FopContext.Root(), f).ConfigureAwait(false);
            try { if (r.Ok) await PutFdAsync(r.Value).ConfigureAwait(false); }
            finally { lease.Dispose(); }
        }
        catch (ObjectDisposedException) { } // unmounted meanwhile: DisposeAsync releases everything
    }

    private async Task SweepNodeAsync(MountNode n, Graph old)
    {
        try
        {
            var ctx = FopContext.Root();
            using var lease = Enter(ctx);
            var r = await ResolveAsync(ctx, n, lease.Graph).ConfigureAwait(false);
            // A node whose object is gone from the volume cannot move; it no longer holds the
            // old graph (its next use fails: the object is gone).
            if (r.Error is Errno.ENOENT or Errno.ESTALE) _nodes.Detach(n, old);
        }
        catch (ObjectDisposedException) { }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "graph {Generation} retired and destroyed after {Ms:F0} ms")]
    private static partial void LogRetired(ILogger log, long generation, double ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "graph {Generation}: retirement forced after {Timeout} with {InFlight} fops in flight and {Hints} handles on it; the fops fail with ENOTCONN")]
    private static partial void LogRetirementForced(ILogger log, long generation, TimeSpan timeout, long inFlight, long hints);

    [LoggerMessage(Level = LogLevel.Error, Message = "graph {Generation}: retirement failed")]
    private static partial void LogRetireFailed(ILogger log, Exception e, long generation);
}
