using Graft.Core;

namespace Graft.Xlators.Features.Locks;

/// <summary>A blocked SETLKW (fcntl or flock), queued on its inode until granted, cancelled or failed.</summary>
internal sealed class Waiter(InodeLockState home, LockOwner owner, LockType type, LockRange range, int pid, Fd fd, bool flock)
{
    public readonly InodeLockState Home = home;
    public readonly LockOwner Owner = owner;
    public readonly LockType Type = type;
    public readonly LockRange Range = range;
    public readonly int Pid = pid;
    public readonly bool Flock = flock;
    /// <summary>Guarded by the home inode's lock (moved by rebind).</summary>
    public Fd Fd = fd;
    /// <summary>Non-null exactly while queued; guarded by the home inode's lock.</summary>
    public LinkedListNode<Waiter>? Node;
    /// <summary>The owners it waits for, and whether it is in the wait-for graph: guarded by that graph's lock.</summary>
    public LockOwner[] Blockers = [];
    public bool Published;
    /// <summary>Set by the first call to see the outcome, so a request joined by several calls is counted once.</summary>
    public int Counted;
    /// <summary>
    /// Re-bound to another fd (a graph switch) and not joined since: the calls it had came through
    /// the old graph, whose retirement cancels them, while the process's call is re-sent through
    /// the new graph, in no guaranteed order across the two connections. So losing its last call
    /// does not take it off the queue: it keeps its place until a re-sent call joins it, or is
    /// granted to its owner (a re-sent call then finds the lock already held and is answered at
    /// once), or goes with its fd (RELEASE), its mount, or the brick. Guarded by the home inode's lock.
    /// </summary>
    public bool Rebound;

    /// <summary>
    /// The calls waiting for this request: usually one. A second identical SETLKW of the same
    /// owner joins instead of queueing again (how a request re-sent through a graph switch keeps
    /// its place), and the request leaves the queue only when every call has been cancelled.
    /// Guarded by the home inode's lock. Completion sources run continuations asynchronously, so
    /// completing them under that lock never runs a caller inline.
    /// </summary>
    private readonly List<TaskCompletionSource<Result<FileLock>>> _callers = new(1);

    public int Callers => _callers.Count;

    public TaskCompletionSource<Result<FileLock>> AddCaller()
    {
        var t = new TaskCompletionSource<Result<FileLock>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _callers.Add(t);
        return t;
    }

    /// <summary>One call gives up (with <paramref name="error"/>); true when it was the last one.</summary>
    public bool RemoveCaller(TaskCompletionSource<Result<FileLock>> caller, Errno error)
    {
        if (_callers.Remove(caller)) caller.TrySetResult(error);
        return _callers.Count == 0;
    }

    /// <summary>The one outcome of the request, given to every call still waiting for it.</summary>
    public void Complete(Result<FileLock> outcome)
    {
        foreach (var c in _callers) c.TrySetResult(outcome);
        _callers.Clear();
    }

    public bool Matches(LockOwner owner, LockType type, LockRange range, bool flock) =>
        Owner == owner && Type == type && Range == range && Flock == flock;

    public FileLock Granted =>
        new() { Type = Type, Start = Range.Start, Length = Range.Length, Pid = Pid, Owner = Owner.Owner, Flock = Flock };

    public override string ToString() =>
        $"{(Flock ? "flock" : "posix")} {(Type == LockType.Write ? "W" : "R")} {Range} owner={Owner} pid={Pid} {Fd}";
}

internal sealed partial class InodeLockState
{
    /// <summary>Blocked requests in arrival order: the queue that makes waiting fair.</summary>
    private readonly LinkedList<Waiter> _queue = new();

    public int WaiterCount => _queue.Count;

    /// <summary>
    /// A request can be granted when no other owner holds a lock that excludes it and — so a
    /// stream of readers cannot starve a waiting writer — no other owner's request queued before
    /// it wants a conflicting lock. An owner that already holds a lock of the same kind on this
    /// file is exempt from the second rule: it is changing what it holds (upgrade, downgrade,
    /// extend), and making it queue behind a request that waits for its own lock would deadlock.
    /// </summary>
    private bool CanGrant(LockOwner owner, LockType type, LockRange range, bool flock, LinkedListNode<Waiter>? before)
    {
        if (FirstConflict(owner, type, range, flock) is not null) return false;
        if (HoldsAny(owner, flock)) return true;
        for (var n = _queue.First; n is not null && n != before; n = n.Next)
        {
            var o = n.Value;
            if (o.Flock == flock && o.Owner != owner && o.Range.Overlaps(range) && TypesConflict(o.Type, type)) return false;
        }
        return true;
    }

    /// <summary>The owners a queued request waits for, by the same two rules as <see cref="CanGrant"/>.</summary>
    private LockOwner[] BlockersOf(LinkedListNode<Waiter> node)
    {
        var w = node.Value;
        var set = new List<LockOwner>(2);
        foreach (var h in Held(w.Flock))
            if (h.Owner != w.Owner && h.Range.Overlaps(w.Range) && TypesConflict(h.Type, w.Type) && !set.Contains(h.Owner))
                set.Add(h.Owner);
        if (!HoldsAny(w.Owner, w.Flock))
            for (var n = _queue.First; n is not null && n != node; n = n.Next)
            {
                var o = n.Value;
                if (o.Flock == w.Flock && o.Owner != w.Owner && o.Range.Overlaps(w.Range) && TypesConflict(o.Type, w.Type)
                    && !set.Contains(o.Owner))
                    set.Add(o.Owner);
            }
        return [.. set];
    }

    /// <summary>
    /// After any change: grants every waiter that can now go, in queue order, and republishes the
    /// edges of those still waiting. A change can close a wait-for cycle that no request check
    /// saw (an exempt owner's lock growing); the waiter found on such a cycle fails with EDEADLK
    /// rather than waiting forever, and the queue is looked at again.
    /// </summary>
    private void Settle()
    {
        do GrantReady();
        while (!RefreshBlockers());
    }

    private void GrantReady()
    {
        // Restart from the front after each grant: a granted request can downgrade its owner's
        // lock, which can free a request queued before it.
        for (var node = _queue.First; node is not null;)
        {
            var w = node.Value;
            if (!CanGrant(w.Owner, w.Type, w.Range, w.Flock, before: node)) { node = node.Next; continue; }
            TakeOff(w);
            if (WithinLimit(w.Owner, w.Type, w.Range, w.Flock))
            {
                Apply(w.Owner, w.Type, w.Range, w.Pid, w.Fd, w.Flock);
                w.Complete(w.Granted);
            }
            else
            {
                // Its mount took other locks while it waited: past max-locks-per-client, this one is refused.
                _counts.RefusedHeld();
                w.Complete(Errno.ENOLCK);
            }
            node = _queue.First;
        }
    }

    /// <summary>False when a waiter was failed with EDEADLK (the queue changed).</summary>
    private bool RefreshBlockers()
    {
        for (var node = _queue.First; node is not null; node = node.Next)
        {
            var w = node.Value;
            if (w.Flock) continue;
            if (_waitFor.TryPublish(w, BlockersOf(node))) continue;
            TakeOff(w);
            w.Complete(Errno.EDEADLK);
            return false;
        }
        return true;
    }

    private Waiter? FindQueued(LockOwner owner, LockType type, LockRange range, bool flock)
    {
        foreach (var w in _queue) if (w.Matches(owner, type, range, flock)) return w;
        return null;
    }

    private void TakeOff(Waiter w)
    {
        _queue.Remove(w.Node!);
        w.Node = null;
        _waitFor.Remove(w);
    }

    /// <summary>
    /// A re-sent SETLKW that arrived already interrupted: had it come a moment earlier it would have
    /// joined a re-bound request kept for it (see <see cref="Waiter.Rebound"/>) and then been
    /// cancelled, so that request goes now, if no call still waits for it. True if one went.
    /// </summary>
    public bool DropOrphan(LockOwner owner, LockType type, LockRange range, bool flock)
    {
        if (FindQueued(owner, type, range, flock) is not { Rebound: true, Callers: 0 } w) return false;
        TakeOff(w);
        Settle();
        return true;
    }

    /// <summary>
    /// Cancellation (INTERRUPT, connection gone) of one call: it gets <paramref name="error"/>, and
    /// the request leaves the queue when no call waits for it any more. Nothing held changes.
    /// False when the request already had its outcome (granted or failed): that outcome stands.
    /// </summary>
    public bool Cancel(Waiter w, TaskCompletionSource<Result<FileLock>> caller, Errno error)
    {
        if (w.Node is null) return false;
        if (!w.RemoveCaller(caller, error) || w.Rebound) return true;
        TakeOff(w);
        Settle(); // requests queued behind it may have waited only for it
        return true;
    }

    private int FailWaiters(Func<Waiter, bool> match, Errno error)
    {
        int n = 0;
        for (var node = _queue.First; node is not null;)
        {
            var next = node.Next;
            var w = node.Value;
            if (match(w)) { TakeOff(w); w.Complete(error); n++; }
            node = next;
        }
        return n;
    }

    /// <summary>Teardown of the translator: every waiter fails with <paramref name="error"/>.</summary>
    public int FailAll(Errno error) => FailWaiters(static _ => true, error);
}
