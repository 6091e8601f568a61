using System.Collections.Concurrent;
using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

// Invalidation notices from the bricks (features/upcall, docs/performance.md), passed on to the kernel: another
// client changed an object (INVAL_INODE: attributes, and cached pages when its data changed) or a name in a
// directory (INVAL_ENTRY: the name's lookup, positive or negative, and the directory's attributes). With them the
// kernel's caches can be trusted for longer than its timeouts alone would allow.
public sealed partial class FuseBridge
{
    FuseSession? _kernel;
    long _invalidations;
    /// <summary>INVAL_INODE notifications queued and not yet being written, by nodeid × 2 + (1 when pages go too): one
    /// such covers every notice for the node that arrives before it starts, so a writer elsewhere sending a notice per
    /// write cannot fill the thread pool with notifications (each of which may wait in the kernel for page locks).</summary>
    readonly ConcurrentDictionary<ulong, byte> _queued = new();

    /// <summary>Notifications written to the kernel because another client changed something.</summary>
    public long Invalidations => Interlocked.Read(ref _invalidations);

    /// <summary>Times the kernel was made to look every cached name up again (notices lost, or a graph switch).</summary>
    public long EpochsBumped => Interlocked.Read(ref _epochs);

    // Names and attributes handed out with the notified lifetimes are kept true by notices only while the notices keep
    // coming on the same connections to the same graph. When the active graph or any of its runs of notices changes, a
    // check (every StalenessCheck) makes the kernel look every cached name up again (INC_EPOCH): a change made while a
    // connection was down, or a graph that sees the volume otherwise (bricks added or removed), is then seen within it.
    // A switch also runs the check at once (GraphActivated): a graph with another set of bricks is seen from the switch on.
    volatile bool _notifiedOn, _notifiedGiven;
    Graph? _checkedGraph;
    long _checkedRuns, _epochs;
    int _checking;
    Timer? _staleness;

    /// <summary>Starts passing the mount session's invalidation notices to <paramref name="kernel"/> (the mounted
    /// FUSE session this bridge serves). Called once, after the mount.</summary>
    public void Attach(FuseSession kernel)
    {
        if (Interlocked.CompareExchange(ref _kernel, kernel, null) is not null) throw new InvalidOperationException("bridge attached twice");
        _session.Invalidated += OnInvalidated;
        // The notified lifetimes only where the kernel can be made to drop what it cached on their word (7.44).
        if (!ReferenceEquals(_notified, _plain) && _stalenessCheck > TimeSpan.Zero && kernel.Connection.Minor >= FuseConst.IncEpochMinor)
        {
            _checkedGraph = _session.ActiveGraph;
            _checkedRuns = _checkedGraph.NoticeRuns;
            _staleness = new Timer(_ => CheckStaleness(), null, _stalenessCheck, _stalenessCheck);
            _session.GraphActivated += CheckStaleness;
            _notifiedOn = true;
        }
    }

    /// <summary>Detaches from the session (unmount), so no notification is started on a closing device.</summary>
    public void Detach()
    {
        _session.Invalidated -= OnInvalidated;
        _session.GraphActivated -= CheckStaleness;
        _staleness?.Dispose();
    }

    void CheckStaleness()
    {
        if (_kernel is not { } k || Interlocked.Exchange(ref _checking, 1) != 0) return;
        try
        {
            var g = _session.ActiveGraph;
            long runs = g.NoticeRuns;
            if (ReferenceEquals(g, _checkedGraph) && runs == _checkedRuns) return;
            _checkedGraph = g;
            _checkedRuns = runs;
            if (!_notifiedGiven) return;
            _notifiedGiven = false;
            Interlocked.Increment(ref _epochs);
            _ = k.NotifyIncEpochAsync();
        }
        finally { Volatile.Write(ref _checking, 0); }
    }

    Task<Errno> InvalInode(FuseSession k, ulong nodeId, bool data)
    {
        ulong key = nodeId * 2 + (data ? 1UL : 0);
        if (!_queued.TryAdd(key, 0)) return Task.FromResult(Errno.OK);
        return k.NotifyInvalInodeAsync(nodeId, offset: data ? 0 : -1, starting: () => _queued.TryRemove(key, out _));
    }

    // Runs on a brick connection's reader: the notification is queued to the thread pool (FuseSession.Notify says
    // why it must never be written from here), and its result needs no handling (ENOENT: nothing was cached).
    void OnInvalidated(MountNode node, UpcallNotice notice)
    {
        if (_kernel is not { } k) return;
        Interlocked.Increment(ref _invalidations);
        _ = notice.Kind switch
        {
            UpcallKind.Inode => InvalInode(k, node.HandleId, notice.Data),
            UpcallKind.Entry when notice.Name is { } name => k.NotifyInvalEntryAsync(node.HandleId, NameBytes.GetBytes(name)),
            _ => Task.FromResult(Errno.OK),
        };
    }
}
