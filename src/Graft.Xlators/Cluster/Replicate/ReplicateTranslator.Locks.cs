using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// The bricks' transaction locks, in this translator's own domain (lock-domain): inodelk for data
// (the whole file) and metadata (one byte at the far end of the range, so data and metadata
// changes of one file do not wait for each other), entrylk on the parent for a name. They
// serialise the transactions of different clients; this client's own are serialised by
// ReplInode.Mutex. Each transaction locks with an owner of its own, so two of this client's
// transactions never share a lock by accident.
//
// Taking them: a non-blocking attempt on every copy at once (one round trip when nobody else
// holds them); if any copy is busy, what was taken is given back and the locks are taken one copy
// at a time in child order, waiting — two clients that both go in child order cannot deadlock.
//
// A data or metadata lock carries its pre-op, and its unlock the post-op, where the brick has
// inodelk-xattrop (features/locks makes the add once the lock is granted, or before it gives it back):
// one request per copy for each instead of two. A brick without it (ENOSYS) gets the two calls.
public sealed partial class ReplicateTranslator
{
    private const long MetadataLockStart = long.MaxValue - 1;
    // Process-wide: the graphs of one process (a mount's old and new graph, two library volumes) present
    // the same mount identity to a brick, so owners counted per translator would collide there, and two
    // transactions on one file (one per graph, during a switch) would both hold its lock.
    private static long s_lockOwners;
    private int _noLocksLogged;

    /// <summary>A context for one transaction's locks: the trusted identity with a lock owner of its own.</summary>
    private FopContext LockContext(FopContext tctx)
    {
        var c = Trusted(tctx);
        c.Cancellation = CancellationToken.None; // an unlock must go out even if the caller gave up
        c.LockOwner = 0x6166720000000000UL | (ulong)Interlocked.Increment(ref s_lockOwners);
        return c;
    }

    /// <summary>Locks <paramref name="targets"/> on the children in <paramref name="on"/>; returns where the locks are held.</summary>
    private async ValueTask<uint> LockAsync(FopContext lctx, TxnTarget[] targets, int kind, uint on)
    {
        if (await TryLockAsync(lctx, targets, kind, on).ConfigureAwait(false) is { } taken) return taken;
        uint held = 0;
        for (int i = 0; i < Children.Count; i++)
        {
            if ((on & (1u << i)) == 0) continue;
            var one = await LockOneAsync(lctx, i, targets, kind, DomainLockCmd.LockBlocking).ConfigureAwait(false);
            if (one.Ok || one.Error == Errno.ENOSYS) held |= 1u << i;
        }
        return held;
    }

    /// <summary>
    /// The non-blocking attempt of <see cref="LockAsync"/> alone: where the locks are held, or null when a copy's lock
    /// is held by someone else (what was taken is given back first).
    /// </summary>
    private async ValueTask<uint?> TryLockAsync(FopContext lctx, TxnTarget[] targets, int kind, uint on)
    {
        var r = await FanOutAsync(on, i => LockOneAsync(lctx, i, targets, kind, DomainLockCmd.Lock)).ConfigureAwait(false);
        uint held = Held(r);
        bool busy = false;
        for (int i = 0; i < r.Length; i++) busy |= (on & (1u << i)) != 0 && r[i].Error == Errno.EAGAIN;
        if (!busy) return held;
        await UnlockAsync(lctx, targets, kind, held).ConfigureAwait(false);
        return null;
    }

    /// <summary>Children where the lock is held, or where the brick has no lock service (ENOSYS: a graph without features/locks, logged once).</summary>
    private uint Held(Result<bool>[] r)
    {
        uint held = 0;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i].Ok) held |= 1u << i;
            else if (r[i].Error == Errno.ENOSYS)
            {
                held |= 1u << i;
                if (Interlocked.Exchange(ref _noLocksLogged, 1) == 0) LogNoLocks(_log, Name, Children[i].Name);
            }
        }
        return held;
    }

    private async ValueTask<Result<bool>> LockOneAsync(FopContext lctx, int i, TxnTarget[] targets, int kind, DomainLockCmd cmd)
    {
        for (int k = 0; k < targets.Length; k++)
        {
            var e = await LockCallAsync(lctx, i, targets[k], kind, cmd).ConfigureAwait(false);
            if (e == Errno.OK) continue;
            for (int u = 0; u < k; u++) await LockCallAsync(lctx, i, targets[u], kind, DomainLockCmd.Unlock).ConfigureAwait(false);
            return e;
        }
        return true;
    }

    private ValueTask<Errno> LockCallAsync(FopContext lctx, int i, TxnTarget t, int kind, DomainLockCmd cmd) => kind switch
    {
        Pending.Entry => Children[i].EntryLkAsync(lctx, t.Loc, _domain, t.EntryName, cmd, LockType.Write),
        _ => Children[i].InodeLkAsync(lctx, t.Loc, _domain, cmd, LockType.Write, RangeOf(kind).Start, RangeOf(kind).Length),
    };

    /// <summary>The bytes a data (the whole file) or metadata (one byte at the far end) lock covers.</summary>
    private static (long Start, long Length) RangeOf(int kind) => kind == Pending.Metadata ? (MetadataLockStart, 1) : (0, 0);

    private ValueTask<Result<byte[]>> LockXattropAsync(FopContext lctx, int i, TxnTarget t, int kind, DomainLockCmd cmd, byte[] delta) =>
        Children[i].InodeLkXattropAsync(lctx, t.Loc, _domain, cmd, LockType.Write, RangeOf(kind).Start, RangeOf(kind).Length, _pendingNames[i], delta);

    /// <summary>
    /// Child <paramref name="i"/>'s lock of kind <paramref name="kind"/> (data or metadata) on
    /// <paramref name="t"/> and, once it is held, its pre-op: <paramref name="delta"/> on the counters of
    /// the children in <paramref name="of"/>. One request (inodelk-xattrop, features/locks makes the add
    /// once the lock is granted) when the pre-op is one add — the copy's own counter, every child taking
    /// part — and the brick has it; else the two calls. The lock's answer, and whether the pre-op landed.
    /// </summary>
    private async ValueTask<(Result<bool> Lock, bool Armed)> LockThenAddAsync(FopContext lctx, int i, TxnTarget t, int kind, DomainLockCmd cmd, byte[] delta, uint of)
    {
        if (of == 1u << i)
        {
            var c = await LockXattropAsync(lctx, i, t, kind, cmd, delta).ConfigureAwait(false);
            if (c.Ok) return (true, true);
            if (c.Error != Errno.ENOSYS) return (c.Error, false); // refused or busy, or the add failed: nothing is held
        }
        var l = await LockOneAsync(lctx, i, [t], kind, cmd).ConfigureAwait(false);
        if (!l.Ok && l.Error != Errno.ENOSYS) return (l, false);
        return (l, (await AddToAllAsync(lctx, i, t.Loc, delta, of).ConfigureAwait(false)).Ok);
    }

    /// <summary>
    /// Child <paramref name="i"/>'s post-op (<paramref name="delta"/> on its own counter), then its unlock:
    /// one request (inodelk-xattrop) when the brick has it. True when the brick has given the lock back
    /// (whatever the add answered); false when the add was made alone and the lock is still to be given back.
    /// </summary>
    private async ValueTask<Result<bool>> AddThenUnlockAsync(FopContext lctx, int i, TxnTarget t, int kind, byte[] delta)
    {
        var c = await LockXattropAsync(lctx, i, t, kind, DomainLockCmd.Unlock, delta).ConfigureAwait(false);
        if (c.Error != Errno.ENOSYS) return true;
        var a = await Children[i].XattropAsync(lctx, t.Loc, _pendingNames[i], delta).ConfigureAwait(false);
        return a.Ok ? new Result<bool>(false) : a.Error;
    }

    /// <summary>
    /// A data or metadata transaction's lock and pre-op on one object: each copy's pre-op goes out as
    /// soon as that copy's lock is granted (with it, where the brick has inodelk-xattrop), not once every
    /// copy's is, so the first write waits for the slowest copy's one (or two) round trips, not the
    /// slowest lock and then the slowest pre-op. The pre-op is still made under the copy's lock, so no
    /// heal or other client's transaction sees it. If any copy was busy, the pre-ops that landed are
    /// taken back and the locks given back before the locks are taken one copy at a time, as
    /// <see cref="LockAsync"/> does, and then the pre-op. Returns where the lock is held and where the
    /// pre-op landed.
    /// </summary>
    private async ValueTask<(uint Locked, uint Armed)> LockAndPreOpAsync(FopContext tctx, TxnTarget[] target, int kind, uint up)
    {
        uint absent = _allMask & ~up;
        var t = target[0];
        var pre = new bool[Children.Count];
        var delta = Pending.Delta(kind, 1);
        var r = await FanOutAsync(up, async i =>
        {
            var (l, added) = await LockThenAddAsync(tctx, i, t, kind, DomainLockCmd.Lock, delta, (1u << i) | absent).ConfigureAwait(false);
            pre[i] = added;
            return l;
        }).ConfigureAwait(false);
        uint locked = Held(r), armed = 0;
        bool busy = false;
        for (int i = 0; i < r.Length; i++)
        {
            if (pre[i]) armed |= 1u << i;
            busy |= (up & (1u << i)) != 0 && r[i].Error == Errno.EAGAIN;
        }
        if (busy)
        {
            await FanOutAsync(armed, i => AddToAllAsync(tctx, i, t.Loc, Pending.Delta(kind, -1), (1u << i) | absent)).ConfigureAwait(false);
            await UnlockAsync(tctx, target, kind, locked).ConfigureAwait(false);
            locked = await LockAsync(tctx, target, kind, up).ConfigureAwait(false);
            return (locked, await PreOpAsync(tctx, target, kind, locked).ConfigureAwait(false));
        }
        Interlocked.Increment(ref _preOps);
        return (locked, armed == up ? armed : await LeaveOutAsync(tctx, target, kind, up, armed).ConfigureAwait(false));
    }

    private async ValueTask UnlockAsync(FopContext lctx, TxnTarget[] targets, int kind, uint locked)
    {
        if (locked == 0) return;
        await FanOutAsync(locked, async i =>
        {
            foreach (var t in targets) await LockCallAsync(lctx, i, t, kind, DomainLockCmd.Unlock).ConfigureAwait(false);
            return new Result<bool>(true);
        }).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: subvolume {Child} has no lock service (no features/locks on the brick): transactions of different clients are not serialised there")]
    private static partial void LogNoLocks(ILogger log, string name, string child);
}
