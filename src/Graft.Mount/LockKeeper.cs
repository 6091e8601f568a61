using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

/// <summary>
/// The lock room (issue 7): the mount's memory of the locks it holds, their reclaim after a brick
/// restart, and the blocking requests (F_SETLKW) that wait across switches and reconnects
/// (LockKeeper.Waits.cs). The bricks keep the locks, owned by (mount identity, lock owner) and never
/// by a graph (DESIGN invariant 9); a restarted brick has lost them, and during its lock grace takes
/// back what its clients held. So the mount remembers every granted set per node
/// (<see cref="NodeLocks"/>) and, when a graph reports CHILD_RESET (a child reconnected to a brick
/// that lost this mount's state), sends each one back as a reclaim through the active graph. A lock
/// the brick will not give back fails the file it was taken through closed (EIO), never silently
/// unlocked.
/// </summary>
internal sealed partial class LockKeeper
{
    private readonly HashSet<MountNode> _lockedNodes = []; // nodes with a NodeLocks; guarded by itself
    private readonly MountSession _session;                // enters files, sends the reclaims, knows the open files
    private readonly GraphSet _graphs;                     // the active graph and its switches
    private readonly FileMigrator _migrator;               // re-binds a grant that landed behind a migration
    private readonly SessionCounters _counters;
    private readonly ILogger _log;
    private readonly MountOptions _options;
    private readonly CancellationTokenSource _closed = new();

    public LockKeeper(MountSession session, GraphSet graphs, FileMigrator migrator, SessionCounters counters, ILogger log, MountOptions options)
    {
        _session = session;
        _graphs = graphs;
        _migrator = migrator;
        _counters = counters;
        _log = log;
        _options = options;
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

    /// <summary>Unmount: no reclaim starts from now on, and lock waits stop looking for a reconnect.</summary>
    public void Close() => _closed.Cancel();

    /// <summary>
    /// A set was granted through <paramref name="used"/>: remember it, and if the file moved to a
    /// newer graph while the call ran (its migration re-bound what the old fd held before this
    /// grant landed there), re-bind again so nothing stays behind on the old fd.
    /// </summary>
    public async ValueTask GrantedAsync(MountFile file, Fd used, FileLock lk)
    {
        Remember(file, lk);
        if (ReferenceEquals(file.Fd, used) || file.IsDirectory) return;
        await file.MigrationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var cur = file.Fd;
            if (ReferenceEquals(cur, used) || file.Released || !cur.TryRef()) return;
            var g = cur.Graph!;
            try
            {
                using var lease = GraphSet.Hold(g);
                var e = await _migrator.RebindAsync(_migrator.ContextFor(file, g), file, used, cur).ConfigureAwait(false);
                if (e != Errno.OK) file.FailClosed(Errno.EIO);
            }
            finally { await _session.PutFdAsync(cur).ConfigureAwait(false); }
        }
        finally { file.MigrationLock.Release(); }
    }

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
        if (!await ActiveGraphUpAsync().ConfigureAwait(false)) return (0, 0);
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

    /// <summary>
    /// The reset comes just before the reconnected child reports up: waits until the active graph can
    /// carry the reclaims, bounded by <see cref="MountOptions.ChildUpTimeout"/> (then they are tried
    /// anyway: one that cannot reach its brick is tried again at the next reset). False at unmount.
    /// </summary>
    /// <remarks>
    /// It follows the active graph: a switch during the wait makes it wait for the new graph instead
    /// (which is active only once its children are up, so usually not at all), never for the old one,
    /// which is retiring and may never see its brick again. Stopping there and leaving the locks to the
    /// new graph would lose them: the new graph's first connection to the restarted brick reports no
    /// reset, and the migration's re-bind moves only what the brick still holds — nothing, after a
    /// restart. The locks are the mount's, not a graph's; only the reclaim gives them back, and only
    /// within the brick's lock grace, which an idle wait on a retiring graph would eat into.
    /// WhenUp is the graph's signal for this reconnect, not for its first start.
    /// </remarks>
    private async ValueTask<bool> ActiveGraphUpAsync()
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
        bound.CancelAfter(_options.ChildUpTimeout);
        while (true)
        {
            var switched = _graphs.NextSwitch; // before Active: a switch between the two reads is not missed
            var up = _graphs.Active.WhenUp;
            if (up.IsCompleted) return true;
            try { await Task.WhenAny(up, switched).WaitAsync(bound.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return !_closed.IsCancellationRequested; }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Kind} lock on {Gfid} at {Start}+{Length} lost after a brick restart ({Error}); the file fails closed (EIO)")]
    private static partial void LogReclaimFailed(ILogger log, Gfid gfid, string kind, long start, long length, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "brick reset seen on graph {Generation}: {Taken} lock(s) taken back, {Lost} lost")]
    private static partial void LogReclaimed(ILogger log, long generation, int taken, int lost);
}
