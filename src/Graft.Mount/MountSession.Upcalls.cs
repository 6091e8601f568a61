using Graft.Core;

namespace Graft.Mount;

// Invalidation notices from the bricks (features/upcall): another client changed something this mount looked at.
// The graph's caches (md-cache) dropped their copy on the way up; what is left is the front end's (the kernel's
// attribute, page and name caches), which it drops when told here.
public sealed partial class MountSession
{
    /// <summary>
    /// Another client changed what <paramref name="node"/> names (for an entry notice: the directory whose name
    /// changed). Raised only for nodes this mount holds — what it never handed out, nobody above it caches. Runs on
    /// a brick connection's reader: a handler must not block (the FUSE bridge queues its notification).
    /// </summary>
    public event Action<MountNode, UpcallNotice>? Invalidated;

    private long _upcallsReceived;

    /// <summary>
    /// Whether every brick below the active graph sends this mount invalidation notices now (<see cref="Graph.NoticesComing"/>):
    /// what another client changes then reaches <see cref="Invalidated"/>, and a front end may cache for longer.
    /// </summary>
    public bool NoticesComing => ActiveGraph.NoticesComing;

    /// <summary>Invalidation notices that reached the top of any of this mount's graphs.</summary>
    public long UpcallsReceived => Interlocked.Read(ref _upcallsReceived);

    /// <summary>Takes a graph's notices (every graph the session builds or is given): any graph's are news about the
    /// volume, whichever is active.</summary>
    private void WatchUpcalls(Graph g) => g.Upcall += OnUpcall;

    private void OnUpcall(UpcallNotice notice)
    {
        Interlocked.Increment(ref _upcallsReceived);
        if (_nodes.Find(notice.Gfid) is not { } node) return;
        Invalidated?.Invoke(node, notice);
        // A name that changed changed its directory too (mtime, ctime, nlink for a subdirectory). The kernel drops a
        // directory's attributes with the name (INVAL_ENTRY) only when it has that name cached: one it never looked
        // up — made by another client — would leave them stale until attr_timeout. So the directory is named too.
        if (notice.Kind == UpcallKind.Entry) Invalidated?.Invoke(node, UpcallNotice.Inode(notice.Gfid, data: false));
    }
}
