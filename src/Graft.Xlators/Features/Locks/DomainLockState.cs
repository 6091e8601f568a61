using Graft.Core;

namespace Graft.Xlators.Features.Locks;

/// <summary>inodelk locks byte ranges of an object; entrylk locks names in a directory (or all of it).</summary>
internal enum DomainKind : byte { Inode, Entry }

/// <summary>What one domain lock state is about: the kind, the object (file, or the directory of entrylk) and the domain.</summary>
internal readonly record struct DomainKey(DomainKind Kind, Gfid Gfid, string Domain)
{
    public override string ToString() => $"{(Kind == DomainKind.Inode ? "inodelk" : "entrylk")} {Gfid} domain={Domain}";
}

/// <summary>A domain lock held, or a blocking request for one waiting in its state's queue.</summary>
internal sealed class DomainLock(LockOwner owner, Guid session, LockType type, LockRange range, string? name)
{
    public readonly LockOwner Owner = owner;
    /// <summary>The brick session it was taken through: it goes when that session ends.</summary>
    public readonly Guid Session = session;
    public readonly LockType Type = type;
    /// <summary>inodelk: the bytes locked.</summary>
    public readonly LockRange Range = range;
    /// <summary>entrylk: the name locked; null for the whole directory.</summary>
    public readonly string? Name = name;
    /// <summary>A waiting request's answer; null for a lock granted at once. Completed under the state's lock, continuations run asynchronously.</summary>
    public TaskCompletionSource<Errno>? Caller;
    /// <summary>Non-null exactly while queued; guarded by the state's lock.</summary>
    public LinkedListNode<DomainLock>? Node;

    public override string ToString() =>
        $"{(Type == LockType.Write ? "W" : "R")} {(Name is null ? Range.ToString() : "name=" + Name)} owner={Owner} session={Session:N}";
}

/// <summary>
/// The domain locks of one (kind, object, domain): held locks and a FIFO queue of blocking
/// requests. Every member is guarded by <see cref="Sync"/>; nothing under it awaits.
/// </summary>
/// <remarks>
/// Conflicts: two locks of different owners conflict when either is a write lock and they cover
/// common ground — overlapping ranges (inodelk), the same name or either on the whole directory
/// (entrylk). One owner's locks never conflict with each other, and are not merged: each lock is
/// dropped by its own unlock (same range, or same name), as GlusterFS's features/locks does. A
/// request is granted when nothing held conflicts and no request queued before it conflicts (so
/// a stream of readers cannot starve a writer), except that an owner already holding a lock here
/// skips the second rule: a transaction extending its own locks must not queue behind requests
/// that wait for it.
/// </remarks>
internal sealed class DomainLockState(DomainKey key, ClientLockCounts counts)
{
    public readonly object Sync = new();
    public readonly DomainKey Key = key;
    private readonly ClientLockCounts _counts = counts;
    private readonly List<DomainLock> _held = [];
    private readonly LinkedList<DomainLock> _queue = new();

    /// <summary>Set (under both the translator's domain map lock and <see cref="Sync"/>) when the state left the map; callers then retry.</summary>
    public bool Dead;

    public bool IsEmpty => _held.Count == 0 && _queue.Count == 0;
    public int HeldCount => _held.Count;
    public int WaiterCount => _queue.Count;

    private bool Conflict(DomainLock a, DomainLock b)
    {
        if (a.Owner == b.Owner || (a.Type != LockType.Write && b.Type != LockType.Write)) return false;
        return Key.Kind == DomainKind.Inode
            ? a.Range.Overlaps(b.Range)
            : a.Name is null || b.Name is null || string.Equals(a.Name, b.Name, StringComparison.Ordinal);
    }

    private bool HoldsAny(LockOwner owner)
    {
        foreach (var h in _held) if (h.Owner == owner) return true;
        return false;
    }

    private bool CanGrant(DomainLock l, LinkedListNode<DomainLock>? before)
    {
        foreach (var h in _held) if (Conflict(h, l)) return false;
        if (HoldsAny(l.Owner)) return true;
        for (var n = _queue.First; n is not null && n != before; n = n.Next)
            if (Conflict(n.Value, l)) return false;
        return true;
    }

    private bool WithinLimit(LockOwner owner) => _counts.Held(owner.Mount) < _counts.Max;

    /// <summary>
    /// Takes <paramref name="l"/>. OK with <see cref="DomainLock.Caller"/> null: held now. OK with
    /// it set: queued, answered later through it. EAGAIN: a conflict and not <paramref name="wait"/>.
    /// ENOLCK: the queue holds <paramref name="maxWaiters"/>, or the mount holds max-locks-per-client.
    /// </summary>
    public Errno Lock(DomainLock l, bool wait, int maxWaiters)
    {
        if (!WithinLimit(l.Owner)) { _counts.RefusedHeld(); return Errno.ENOLCK; }
        if (CanGrant(l, before: null))
        {
            Hold(l);
            return Errno.OK;
        }
        if (!wait) return Errno.EAGAIN;
        if (_queue.Count >= maxWaiters) { _counts.RefusedWaiter(); return Errno.ENOLCK; }
        l.Caller = new TaskCompletionSource<Errno>(TaskCreationOptions.RunContinuationsAsynchronously);
        l.Node = _queue.AddLast(l);
        return Errno.OK;
    }

    private void Hold(DomainLock l)
    {
        _held.Add(l);
        _counts.Add(l.Owner.Mount, 1);
    }

    /// <summary>Drops the owner's lock on exactly this range (inodelk) or name (entrylk); EINVAL when it holds none.</summary>
    public Errno Unlock(LockOwner owner, LockRange range, string? name)
    {
        for (int i = _held.Count - 1; i >= 0; i--)
        {
            var h = _held[i];
            bool same = Key.Kind == DomainKind.Inode ? h.Range == range : string.Equals(h.Name, name, StringComparison.Ordinal);
            if (h.Owner != owner || !same) continue;
            _held.RemoveAt(i);
            _counts.Add(owner.Mount, -1);
            GrantReady();
            return Errno.OK;
        }
        return Errno.EINVAL;
    }

    /// <summary>A queued request gives up (cancelled, or its wait bound passed) with <paramref name="error"/>. False when it already had its answer.</summary>
    public bool Withdraw(DomainLock w, Errno error)
    {
        if (w.Node is null) return false;
        _queue.Remove(w.Node);
        w.Node = null;
        w.Caller!.TrySetResult(error);
        GrantReady(); // requests behind it may have waited only for it
        return true;
    }

    /// <summary>Drops the held locks that match and fails the queued requests that match with <paramref name="error"/>; how many.</summary>
    public int Release(Func<DomainLock, bool> match, Errno error)
    {
        int n = 0;
        for (int i = _held.Count - 1; i >= 0; i--)
        {
            if (!match(_held[i])) continue;
            _counts.Add(_held[i].Owner.Mount, -1);
            _held.RemoveAt(i);
            n++;
        }
        for (var node = _queue.First; node is not null;)
        {
            var next = node.Next;
            if (match(node.Value))
            {
                _queue.Remove(node);
                node.Value.Node = null;
                node.Value.Caller!.TrySetResult(error);
                n++;
            }
            node = next;
        }
        if (n > 0) GrantReady();
        return n;
    }

    /// <summary>Grants, in queue order, every waiting request that can go now.</summary>
    private void GrantReady()
    {
        // From the front again after each grant: its owner now holds a lock here, which can exempt
        // a request of the same owner queued before it from the queue-order rule.
        for (var node = _queue.First; node is not null;)
        {
            var w = node.Value;
            if (!CanGrant(w, before: node)) { node = node.Next; continue; }
            _queue.Remove(node);
            w.Node = null;
            if (WithinLimit(w.Owner))
            {
                Hold(w);
                w.Caller!.TrySetResult(Errno.OK);
            }
            else
            {
                _counts.RefusedHeld();
                w.Caller!.TrySetResult(Errno.ENOLCK);
            }
            node = _queue.First;
        }
    }

    public IEnumerable<string> Dump()
    {
        foreach (var h in _held) yield return $"{Key} held {h}";
        foreach (var w in _queue) yield return $"{Key} waiting {w}";
    }
}
