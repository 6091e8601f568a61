using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

/// <summary>
/// The mount's memory of the locks it holds (issue 7), and their reclaim after a brick restart.
/// The bricks keep the locks; a restarted brick has lost them, and during its lock grace takes
/// back what its clients held. So the mount remembers every granted set per node
/// (<see cref="NodeLocks"/>) and, when a graph reports CHILD_RESET (a child reconnected to a brick
/// that lost this mount's state), sends each one back as a reclaim through the active graph. A lock
/// the brick will not give back fails the file it was taken through closed (EIO), never silently
/// unlocked.
/// </summary>
internal sealed partial class LockKeeper
{
    private readonly HashSet<MountNode> _lockedNodes = []; // nodes with a NodeLocks; guarded by itself
    private readonly MountSession _session;                // sends the reclaims, knows the open files
    private readonly SessionCounters _counters;
    private readonly ILogger _log;
    private readonly TimeSpan _childUpTimeout;
    private readonly CancellationTokenSource _closed = new();

    public LockKeeper(MountSession session, SessionCounters counters, ILogger log, TimeSpan childUpTimeout)
    {
        _session = session;
        _counters = counters;
        _log = log;
        _childUpTimeout = childUpTimeout;
    }

    /// <summary>Nodes with a lock remembered.</summary>
    public int LockedNodes { get { lock (_lockedNodes) return _lockedNodes.Count; } }

    /// <summary>Records a granted set (or unlock) taken through <paramref name="file"/>.</summary>
    public void Remember(MountFile file, in FileLock lk)
    {
        var node = file.Node;
        var locks = node.Locks;
        if (locks is null)
        {
            if (lk.Type == LockType.Unlock) return;
            lock (_lockedNodes)
            {
                locks = node.Locks ??= new NodeLocks();
                _lockedNodes.Add(node);
            }
        }
        locks.Apply(file, lk);
    }

    /// <summary>RELEASE: the brick drops the flocks held through the file; so does the memory.</summary>
    public void ForgetFile(MountFile file)
    {
        var node = file.Node;
        if (node.Locks is not { } locks) return;
        locks.DropFile(file);
        if (!locks.IsEmpty) return;
        lock (_lockedNodes)
        {
            // Re-checked under the set's lock: a grant racing with this release re-adds the node.
            if (locks.IsEmpty && ReferenceEquals(node.Locks, locks)) { node.Locks = null; _lockedNodes.Remove(node); }
        }
    }

    /// <summary>Listens to a graph's events (every graph the session builds or is given).</summary>
    public void Watch(Graph g) => g.TopEvent += ev =>
    {
        if (ev == GraphEvent.ChildReset && !_closed.IsCancellationRequested) _ = ReclaimAllAsync(g);
    };

    /// <summary>Unmount: no reclaim starts from now on.</summary>
    public void Close() => _closed.Cancel();

    /// <summary>
    /// A child of <paramref name="from"/> reconnected to a brick that lost this mount's state (a
    /// restart): its fds are reopened; send every remembered lock back as a reclaim, through the
    /// active graph. Returns the locks taken back and lost.
    /// </summary>
    public async Task<(int Taken, int Lost)> ReclaimAllAsync(Graph from)
    {
        MountNode[] nodes;
        lock (_lockedNodes) nodes = [.. _lockedNodes];
        if (nodes.Length == 0) return (0, 0);
        // The reset comes just before the reconnected child reports up: wait (bounded) until the
        // active graph can carry the reclaims. WhenUp is this reconnect's signal, not the graph's first start.
        try { await _session.ActiveGraph.WhenUp.WaitAsync(_childUpTimeout, _closed.Token).ConfigureAwait(false); }
        catch (TimeoutException) { } // tried anyway: a reclaim that cannot reach its brick is tried at the next reset
        catch (OperationCanceledException) { return (0, 0); }
        int taken = 0, lost = 0;
        foreach (var node in nodes)
        {
            if (node.Locks is not { } locks) continue;
            foreach (var (through, lk) in locks.Snapshot())
            {
                var file = through.Released ? _session.OpenFileOf(node) : through;
                if (file is null) { locks.Forget(through, lk); continue; }
                var ctx = new FopContext { Uid = 0, Gid = 0, Pid = lk.Pid, LockOwner = lk.Owner };
                Result<FileLock> r;
                try { r = await _session.LkAsync(ctx, file, LockCmd.Reclaim, lk).ConfigureAwait(false); }
                catch (ObjectDisposedException) { return (taken, lost); }
                if (r.Ok) { taken++; continue; }
                // Gone again: the next reconnect resets and reclaims again, within its own grace.
                if (r.Error is Errno.ENOTCONN or Errno.ETIMEDOUT) continue;
                lost++;
                locks.Forget(through, lk);
                file.FailClosed(Errno.EIO);
                LogReclaimFailed(_log, node.Gfid, lk.Flock ? "flock" : "fcntl", lk.Start, lk.Length, r.Error.Name());
            }
        }
        Interlocked.Add(ref _counters.LocksReclaimed, taken);
        Interlocked.Add(ref _counters.LocksLost, lost);
        LogReclaimed(_log, from.Generation, taken, lost);
        return (taken, lost);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Kind} lock on {Gfid} at {Start}+{Length} lost after a brick restart ({Error}); the file fails closed (EIO)")]
    private static partial void LogReclaimFailed(ILogger log, Gfid gfid, string kind, long start, long length, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "brick reset seen on graph {Generation}: {Taken} lock(s) taken back, {Lost} lost")]
    private static partial void LogReclaimed(ILogger log, long generation, int taken, int lost);
}
