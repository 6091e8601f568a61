using Graft.Core;

namespace Graft.Xlators.Features.Locks;

/// <summary>One held lock: an fcntl byte range or a flock (whole file).</summary>
internal sealed class HeldLock(LockOwner owner, LockType type, LockRange range, int pid, Fd fd, bool flock)
{
    public readonly LockOwner Owner = owner;
    public readonly LockType Type = type;
    public readonly LockRange Range = range;
    public readonly int Pid = pid;
    public readonly bool Flock = flock;
    /// <summary>The fd it was taken through: owns a flock; moved by rebind. Guarded by the inode's lock.</summary>
    public Fd Fd = fd;

    public FileLock ToFileLock() =>
        new() { Type = Type, Start = Range.Start, Length = Range.Length, Pid = Pid, Owner = Owner.Owner, Flock = Flock };

    public override string ToString() =>
        $"{(Flock ? "flock" : "posix")} {(Type == LockType.Write ? "W" : "R")} {Range} owner={Owner} pid={Pid} {Fd}";
}

/// <summary>
/// The locks of one file (by GFID) on this brick: held fcntl ranges, held flocks, and one FIFO
/// queue of blocked requests of both kinds. Every member is guarded by <see cref="Sync"/>; nothing
/// under it awaits, and waiters are completed under it through completion sources that run their
/// continuations asynchronously, so no caller's code ever runs while it is held.
/// </summary>
/// <remarks>
/// What the held lists keep true: one owner's fcntl locks never overlap each other, and two of
/// them of the same type never touch (they are merged); an owner has at most one flock. fcntl
/// and flock locks live in separate lists and never conflict with each other, as on Linux.
/// </remarks>
internal sealed partial class InodeLockState(Gfid gfid, WaitForGraph waitFor, ClientLockCounts counts)
{
    public readonly object Sync = new();
    public readonly Gfid Gfid = gfid;
    private readonly WaitForGraph _waitFor = waitFor;
    private readonly ClientLockCounts _counts = counts;
    private readonly List<HeldLock> _posix = [];
    private readonly List<HeldLock> _flocks = [];

    /// <summary>Set (under both the translator's map lock and <see cref="Sync"/>) when the state left the map; callers then retry.</summary>
    public bool Dead;

    public bool IsEmpty => _posix.Count == 0 && _flocks.Count == 0 && _queue.Count == 0;
    public int PosixCount => _posix.Count;
    public int FlockCount => _flocks.Count;

    private List<HeldLock> Held(bool flock) => flock ? _flocks : _posix;

    private static bool TypesConflict(LockType a, LockType b) => a == LockType.Write || b == LockType.Write;

    /// <summary>The held lock of another owner that excludes the request (lowest start first), or null.</summary>
    public HeldLock? FirstConflict(LockOwner owner, LockType type, LockRange range, bool flock)
    {
        HeldLock? first = null;
        foreach (var h in Held(flock))
        {
            if (h.Owner == owner || !h.Range.Overlaps(range) || !TypesConflict(h.Type, type)) continue;
            if (first is null || h.Range.Start < first.Range.Start) first = h;
        }
        return first;
    }

    private bool HoldsAny(LockOwner owner, bool flock)
    {
        foreach (var h in Held(flock)) if (h.Owner == owner) return true;
        return false;
    }

    private HeldLock? FlockOf(LockOwner owner)
    {
        foreach (var h in _flocks) if (h.Owner == owner) return h;
        return null;
    }

    /// <summary>Sets the owner's coverage of a range to one type (or to nothing, for Unlock).</summary>
    private void Apply(LockOwner owner, LockType type, LockRange range, int pid, Fd fd, bool flock)
    {
        if (flock) ApplyFlock(owner, type, pid, fd);
        else ApplyPosix(owner, type, range, pid, fd);
    }

    /// <summary>
    /// fcntl semantics: the owner's locks inside the range are replaced, the parts outside it are
    /// kept (so unlocking the middle of a lock splits it in two, and locking part of a write lock
    /// for reading downgrades just that part), then the new lock merges with the owner's adjacent
    /// locks of the same type.
    /// </summary>
    private void ApplyPosix(LockOwner owner, LockType type, LockRange range, int pid, Fd fd)
    {
        int count = _posix.Count;
        for (int i = _posix.Count - 1; i >= 0; i--)
        {
            var h = _posix[i];
            if (h.Owner != owner || !h.Range.Overlaps(range)) continue;
            _posix.RemoveAt(i);
            if (h.Range.Start < range.Start)
                _posix.Add(new HeldLock(owner, h.Type, new LockRange(h.Range.Start, range.Start - 1), h.Pid, h.Fd, false));
            if (h.Range.End > range.End)
                _posix.Add(new HeldLock(owner, h.Type, new LockRange(range.End + 1, h.Range.End), h.Pid, h.Fd, false));
        }
        if (type != LockType.Unlock)
        {
            // After the cut, only locks directly adjacent to the range can touch it: at most one on each side.
            var merged = range;
            for (int i = _posix.Count - 1; i >= 0; i--)
            {
                var h = _posix[i];
                if (h.Owner != owner || h.Type != type || !h.Range.Touches(merged)) continue;
                merged = merged.Union(h.Range);
                _posix.RemoveAt(i);
            }
            _posix.Add(new HeldLock(owner, type, merged, pid, fd, false));
        }
        _counts.Add(owner.Mount, _posix.Count - count);
    }

    /// <summary>flock semantics: one lock per owner (open file); a new type converts it, Unlock drops it.</summary>
    private void ApplyFlock(LockOwner owner, LockType type, int pid, Fd fd)
    {
        int n = -_flocks.RemoveAll(h => h.Owner == owner);
        if (type != LockType.Unlock) { _flocks.Add(new HeldLock(owner, type, LockRange.WholeFile, pid, fd, true)); n++; }
        _counts.Add(owner.Mount, n);
    }

    /// <summary>
    /// How many locks the owner would hold more (or fewer) after setting <paramref name="range"/> to
    /// <paramref name="type"/>, as <see cref="ApplyPosix"/> would do it: each of its locks the range
    /// overlaps is cut out, leaving a piece on each side that reaches past the range; a new lock
    /// merges with at most one same-type neighbour on each side. An unlock that splits a lock grows too.
    /// </summary>
    private int Growth(LockOwner owner, LockType type, LockRange range, bool flock)
    {
        if (flock) return type != LockType.Unlock && FlockOf(owner) is null ? 1 : 0;
        int growth = 0;
        bool mergesLeft = false, mergesRight = false;
        foreach (var h in _posix)
        {
            if (h.Owner != owner) continue;
            if (h.Range.Overlaps(range))
            {
                growth--;
                if (h.Range.Start < range.Start) { growth++; mergesLeft |= h.Type == type; }
                if (h.Range.End > range.End) { growth++; mergesRight |= h.Type == type; }
            }
            else if (h.Type == type)
            {
                mergesLeft |= range.Start > 0 && h.Range.End == range.Start - 1;
                mergesRight |= range.End < LockRange.Eof && h.Range.Start == range.End + 1;
            }
        }
        if (type == LockType.Unlock) return growth;
        return growth + 1 - (mergesLeft ? 1 : 0) - (mergesRight ? 1 : 0);
    }

    /// <summary>
    /// Whether the owner's mount stays within max-locks-per-client after this change. One change
    /// adds at most two locks (a lock set inside another of another type), so the exact count is
    /// only worked out near the limit.
    /// </summary>
    private bool WithinLimit(LockOwner owner, LockType type, LockRange range, bool flock)
    {
        int held = _counts.Held(owner.Mount), max = _counts.Max;
        return held + 2 <= max || held + Growth(owner, type, range, flock) <= max;
    }

    /// <summary>GETLK: the first lock that would exclude the request, or the request with Type=Unlock if none.</summary>
    public FileLock Test(LockOwner owner, in FileLock lk, LockRange range)
    {
        if (FirstConflict(owner, lk.Type, range, lk.Flock) is { } h) return h.ToFileLock();
        var free = lk;
        free.Type = LockType.Unlock;
        return free;
    }

    /// <summary>
    /// SETLK / SETLKW. OK with <paramref name="waiter"/> null: done. OK with a waiter: the call
    /// waits on <paramref name="caller"/>, completed later. Otherwise EAGAIN (SETLK on a
    /// conflict), EDEADLK, ENOLCK (the file's queue is full, or the owner's mount would hold more
    /// than max-locks-per-client: also for an unlock that would split a lock, as fcntl can).
    /// </summary>
    public Errno Set(LockOwner owner, LockType type, LockRange range, int pid, Fd fd, bool flock, bool wait,
                     int maxWaiters, out Waiter? waiter, out TaskCompletionSource<Result<FileLock>>? caller)
    {
        waiter = null;
        caller = null;
        if (wait && FindQueued(owner, type, range, flock) is { } same)
        {
            // The same request again while it waits (a SETLKW re-sent through a graph switch, or a
            // second thread of the owner): it joins the queued one, keeping its place and its one grant.
            waiter = same;
            caller = same.AddCaller();
            same.Rebound = false; // joined: from now on its calls' cancellations count again
            return Errno.OK;
        }
        if (type == LockType.Unlock)
        {
            if (!WithinLimit(owner, type, range, flock)) { _counts.RefusedHeld(); return Errno.ENOLCK; }
            Apply(owner, type, range, pid, fd, flock);
            Settle();
            return Errno.OK;
        }
        if (flock && FlockOf(owner) is { } existing)
        {
            if (existing.Type == type) return Errno.OK;
            if (wait)
            {
                if (_queue.Count >= maxWaiters) { _counts.RefusedWaiter(); return Errno.ENOLCK; }
                // A blocking conversion lets go first, as Linux does: two holders of a shared
                // flock both upgrading would otherwise wait for each other forever. Whoever was
                // already waiting for our shared lock to go is served before us (FIFO).
                _flocks.Remove(existing);
                _counts.Add(owner.Mount, -1);
                Settle();
            }
            // A non-blocking conversion that fails keeps the lock it had (Linux would have dropped it).
        }
        if (CanGrant(owner, type, range, flock, before: null))
        {
            if (!WithinLimit(owner, type, range, flock)) { _counts.RefusedHeld(); return Errno.ENOLCK; }
            Apply(owner, type, range, pid, fd, flock);
            Settle(); // a downgrade or conversion can let waiters through
            return Errno.OK;
        }
        if (!wait) return Errno.EAGAIN;
        if (_queue.Count >= maxWaiters) { _counts.RefusedWaiter(); return Errno.ENOLCK; }
        // A request that could not be granted within the limit when it is its turn fails now, not then.
        if (!WithinLimit(owner, type, range, flock)) { _counts.RefusedHeld(); return Errno.ENOLCK; }

        var w = new Waiter(this, owner, type, range, pid, fd, flock);
        w.Node = _queue.AddLast(w);
        if (!flock && !_waitFor.TryPublish(w, BlockersOf(w.Node)))
        {
            _queue.Remove(w.Node);
            w.Node = null;
            return Errno.EDEADLK;
        }
        waiter = w;
        caller = w.AddCaller();
        return Errno.OK;
    }

    /// <summary>FLUSH (close of any fd by this owner): drops the owner's fcntl locks on this file.</summary>
    public int ReleasePosixOf(LockOwner owner)
    {
        int n = _posix.RemoveAll(h => h.Owner == owner);
        _counts.Add(owner.Mount, -n);
        if (n > 0) Settle();
        return n;
    }

    /// <summary>RELEASE of an fd: drops flocks held through it and fails requests still waiting through it.</summary>
    public int ReleaseFd(Fd fd)
    {
        int n = RemoveHeld(_flocks, h => h.Fd == fd);
        n += FailWaiters(w => w.Fd == fd, Errno.EBADF);
        if (n > 0) Settle();
        return n;
    }

    /// <summary>A client gone for good: everything its mount holds or waits for here.</summary>
    public int ReleaseMount(Guid mount)
    {
        int n = RemoveHeld(_posix, h => h.Owner.Mount == mount) + RemoveHeld(_flocks, h => h.Owner.Mount == mount);
        n += FailWaiters(w => w.Owner.Mount == mount, Errno.ENOTCONN);
        if (n > 0) Settle();
        return n;
    }

    /// <summary>Removes the held locks that match, keeping each one's mount's count right.</summary>
    private int RemoveHeld(List<HeldLock> list, Predicate<HeldLock> match)
    {
        int n = 0;
        for (int i = list.Count - 1; i >= 0; i--)
        {
            if (!match(list[i])) continue;
            _counts.Add(list[i].Owner.Mount, -1);
            list.RemoveAt(i);
            n++;
        }
        return n;
    }

    /// <summary>
    /// Moves what was held or requested through <paramref name="from"/> onto <paramref name="to"/>,
    /// in place: the locks stay held and the waiters keep their queue positions, so there is no
    /// moment at which another owner could take them or overtake a waiter.
    /// </summary>
    public int Rebind(Fd from, Fd to)
    {
        int n = 0;
        foreach (var h in _posix) if (h.Fd == from) { h.Fd = to; n++; }
        foreach (var h in _flocks) if (h.Fd == from) { h.Fd = to; n++; }
        for (var node = _queue.First; node is not null; node = node.Next)
            if (node.Value.Fd == from) { node.Value.Fd = to; node.Value.Rebound = true; n++; }
        return n;
    }

    public int CountThrough(Fd fd)
    {
        int n = 0;
        foreach (var h in _posix) if (h.Fd == fd) n++;
        foreach (var h in _flocks) if (h.Fd == fd) n++;
        foreach (var w in _queue) if (w.Fd == fd) n++;
        return n;
    }

    public IEnumerable<string> Dump()
    {
        foreach (var h in _posix) yield return $"{Gfid} held {h}";
        foreach (var h in _flocks) yield return $"{Gfid} held {h}";
        foreach (var w in _queue) yield return $"{Gfid} waiting {w}";
    }
}
