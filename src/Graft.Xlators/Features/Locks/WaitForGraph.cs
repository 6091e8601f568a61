namespace Graft.Xlators.Features.Locks;

/// <summary>
/// Which owner waits for which, over every inode of one locks translator: the edges of each
/// waiting fcntl request point at the owners that keep it waiting. A new wait whose blockers lead
/// back to its own owner would never be granted, so it gets EDEADLK instead of joining.
/// </summary>
/// <remarks>
/// Each inode keeps its waiters' edges current (it republishes them under its own lock after
/// every change), so the graph describes every inode as of its last change. The check of a new
/// wait and its publication happen under one lock, so of two requests closing a cycle at the same
/// moment on two inodes the second always sees the first. Lock order: an inode's lock, then this
/// one; this lock is a leaf.
/// </remarks>
internal sealed class WaitForGraph
{
    private readonly object _sync = new();
    private readonly Dictionary<LockOwner, List<Waiter>> _byOwner = new();

    /// <summary>How many edges a search follows at most: bounds the work under the lock.</summary>
    public int MaxDepth { get; set; } = 1024;

    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Sets <paramref name="w"/>'s blockers and publishes it, unless that closes a cycle back to
    /// its owner: then nothing changes and the answer is false.
    /// </summary>
    public bool TryPublish(Waiter w, LockOwner[] blockers)
    {
        lock (_sync)
        {
            // A cycle can only be closed by a new edge, so unchanged edges need no new search:
            // this keeps the republishing after every change cheap for long queues.
            if (w.Published && blockers.AsSpan().SequenceEqual(w.Blockers)) return true;
            if (Enabled && blockers.Length > 0 && ReachesOwner(w, blockers)) return false;
            w.Blockers = blockers;
            if (!w.Published)
            {
                if (!_byOwner.TryGetValue(w.Owner, out var list)) _byOwner[w.Owner] = list = [];
                list.Add(w);
                w.Published = true;
            }
            return true;
        }
    }

    public void Remove(Waiter w)
    {
        lock (_sync)
        {
            if (!w.Published) return;
            w.Published = false;
            w.Blockers = [];
            if (_byOwner.TryGetValue(w.Owner, out var list))
            {
                list.Remove(w);
                if (list.Count == 0) _byOwner.Remove(w.Owner);
            }
        }
    }

    /// <summary>Depth-first from the blockers along published edges; true when it arrives at w's owner.</summary>
    private bool ReachesOwner(Waiter w, LockOwner[] blockers)
    {
        var seen = new HashSet<LockOwner>();
        var stack = new Stack<LockOwner>(blockers);
        int steps = 0;
        while (stack.Count > 0 && steps++ < MaxDepth)
        {
            var o = stack.Pop();
            if (o == w.Owner) return true;
            if (!seen.Add(o) || !_byOwner.TryGetValue(o, out var waits)) continue;
            foreach (var other in waits)
                if (other != w)
                    foreach (var b in other.Blockers) stack.Push(b);
        }
        return false;
    }
}
