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

    /// <summary>Invalidation notices that reached the top of any of this mount's graphs.</summary>
    public long UpcallsReceived => Interlocked.Read(ref _upcallsReceived);

    /// <summary>Takes a graph's notices (every graph the session builds or is given): any graph's are news about the
    /// volume, whichever is active.</summary>
    private void WatchUpcalls(Graph g) => g.Upcall += OnUpcall;

    private void OnUpcall(UpcallNotice notice)
    {
        Interlocked.Increment(ref _upcallsReceived);
        if (_nodes.Find(notice.Gfid) is { } node) Invalidated?.Invoke(node, notice);
    }
}
