using System.Diagnostics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

// Retirement of old graphs (DESIGN invariants 3, 6 and 8). It runs beside the switch and never
// delays it: handles that sit idle on the old graph are moved forward by a sweep at a bounded
// rate; once no fop is in flight on the old graph and nothing references it, it gets PARENT_DOWN
// and, when that is handled, it is destroyed. A fop that never comes back (a lost frame) delays
// this at most by RetirementTimeout: then teardown is forced, which fails such calls with ENOTCONN.
public sealed partial class MountSession
{
    private void OnGraphRetiring(Graph old) => _ = RetireAsync(old);

    private async Task RetireAsync(Graph old)
    {
        var clock = Stopwatch.StartNew();
        var timeout = Options.RetirementTimeout;
        var dead = new HashSet<MountNode>(ReferenceEqualityComparer.Instance); // nodes gone from the volume
        bool forced = false;
        try
        {
            // Give busy handles the chance to move on their own first; the sweep is for idle ones.
            // (Never past the retirement bound, which stays the bound.)
            await Task.Delay(Options.SweepDelay < timeout ? Options.SweepDelay : timeout).ConfigureAwait(false);
            while (true)
            {
                if (Volatile.Read(ref _disposed) != 0) { Interlocked.Decrement(ref _retiring); return; } // DisposeAsync tears every graph down
                var (files, nodes) = ReferencesTo(old, dead);
                if (files.Count == 0 && nodes.Count == 0 && old.FopsInFlight == 0) break;
                if (clock.Elapsed >= timeout) { forced = true; break; }
                if (files.Count == 0 && nodes.Count == 0)
                {
                    await Task.Delay(10).ConfigureAwait(false); // only fops in flight: let them finish
                    continue;
                }
                await SweepAsync(files, nodes, dead, timeout - clock.Elapsed).ConfigureAwait(false);
            }

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
            LogRetirementForced(_log, old.Generation, timeout, old.FopsInFlight);
        }
        await old.DestroyAsync().ConfigureAwait(false);
        lock (_graphs) _graphs.Remove(old);
        Interlocked.Decrement(ref _retiring);
        Interlocked.Increment(ref _counters.GraphsDestroyed);
        LogRetired(_log, old.Generation, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Open files whose fd, and nodes whose inode, are still on <paramref name="g"/>.</summary>
    private (List<MountFile> Files, List<MountNode> Nodes) ReferencesTo(Graph g, HashSet<MountNode> dead)
    {
        var files = new List<MountFile>();
        foreach (var f in _files.Snapshot())
            if (ReferenceEquals(f.Fd.Graph, g) && !f.Released) files.Add(f);
        var nodes = new List<MountNode>();
        lock (_nodesSync)
        {
            foreach (var n in _nodes.Values)
                if (ReferenceEquals(n.Inode.Graph, g) && !IsDead(n)) nodes.Add(n);
        }
        return (files, nodes);

        bool IsDead(MountNode n) { lock (dead) return dead.Contains(n); } // a sweep past its budget may still add to it
    }

    /// <summary>
    /// Moves idle handles to the active graph, at most <see cref="MountOptions.SweepRate"/> a
    /// second, exactly as a fop on them would (so the same single-flight rules apply). Each move
    /// is waited for only within <paramref name="budget"/>: a move can be held by the old graph
    /// itself (its barrier waits for a write that never comes back), and only the teardown this
    /// bound leads to can free it — the move then finishes on its own.
    /// </summary>
    private async Task SweepAsync(List<MountFile> files, List<MountNode> nodes, HashSet<MountNode> dead, TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        int done = 0;
        var perHandle = TimeSpan.FromSeconds(1.0 / Math.Max(1, Options.SweepRate));
        async Task PaceAsync()
        {
            done++;
            var due = perHandle * done - clock.Elapsed;
            if (due > TimeSpan.Zero) await Task.Delay(due).ConfigureAwait(false);
        }
        async Task<bool> WithinBudgetAsync(Task move)
        {
            var left = budget - clock.Elapsed;
            try { await move.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero).ConfigureAwait(false); return true; }
            catch (TimeoutException) { return false; }
        }

        foreach (var f in files)
        {
            if (clock.Elapsed > budget || Volatile.Read(ref _disposed) != 0) return;
            if (!await WithinBudgetAsync(SweepFileAsync(f)).ConfigureAwait(false)) return;
            Interlocked.Increment(ref _counters.HandlesSwept);
            await PaceAsync().ConfigureAwait(false);
        }
        foreach (var n in nodes)
        {
            if (clock.Elapsed > budget || Volatile.Read(ref _disposed) != 0) return;
            if (!await WithinBudgetAsync(SweepNodeAsync(n, dead)).ConfigureAwait(false)) return;
            Interlocked.Increment(ref _counters.HandlesSwept);
            await PaceAsync().ConfigureAwait(false);
        }
        if (files.Count + nodes.Count > 0 && done == 0) await Task.Delay(10).ConfigureAwait(false);
    }

    private async Task SweepFileAsync(MountFile f)
    {
        try
        {
            var (g, r) = await EnterFileAsync(FopContext.Root(), f).ConfigureAwait(false);
            try { if (r.Ok) await PutFdAsync(r.Value).ConfigureAwait(false); }
            finally { g.ExitFop(); }
        }
        catch (ObjectDisposedException) { } // unmounted meanwhile: DisposeAsync releases everything
    }

    private async Task SweepNodeAsync(MountNode n, HashSet<MountNode> dead)
    {
        try
        {
            var ctx = FopContext.Root();
            var g = Enter(ctx);
            try
            {
                var r = await ResolveAsync(ctx, n, g).ConfigureAwait(false);
                // A node whose object is gone from the volume cannot move; it no longer holds the
                // old graph (its next use answers ESTALE).
                if (r.Error is Errno.ENOENT or Errno.ESTALE) lock (dead) dead.Add(n);
            }
            finally { g.ExitFop(); }
        }
        catch (ObjectDisposedException) { }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "graph {Generation} retired and destroyed after {Ms:F0} ms")]
    private static partial void LogRetired(ILogger log, long generation, double ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "graph {Generation}: retirement forced after {Timeout} with {InFlight} fops in flight; they fail with ENOTCONN")]
    private static partial void LogRetirementForced(ILogger log, long generation, TimeSpan timeout, long inFlight);

    [LoggerMessage(Level = LogLevel.Error, Message = "graph {Generation}: retirement failed")]
    private static partial void LogRetireFailed(ILogger log, Exception e, long generation);
}
