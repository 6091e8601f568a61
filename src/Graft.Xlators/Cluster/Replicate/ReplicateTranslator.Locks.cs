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
public sealed partial class ReplicateTranslator
{
    private const long MetadataLockStart = long.MaxValue - 1;
    private long _lockOwners;
    private int _noLocksLogged;

    /// <summary>A context for one transaction's locks: the trusted identity with a lock owner of its own.</summary>
    private FopContext LockContext(FopContext tctx)
    {
        var c = Trusted(tctx);
        c.Cancellation = CancellationToken.None; // an unlock must go out even if the caller gave up
        c.LockOwner = 0x6166720000000000UL | (ulong)Interlocked.Increment(ref _lockOwners);
        return c;
    }

    /// <summary>Locks <paramref name="targets"/> on the children in <paramref name="on"/>; returns where the locks are held.</summary>
    private async ValueTask<uint> LockAsync(FopContext lctx, TxnTarget[] targets, int kind, uint on)
    {
        var r = await FanOutAsync(on, i => LockOneAsync(lctx, i, targets, kind, DomainLockCmd.Lock)).ConfigureAwait(false);
        uint held = Held(r);
        bool busy = false;
        for (int i = 0; i < r.Length; i++) busy |= (on & (1u << i)) != 0 && r[i].Error == Errno.EAGAIN;
        if (!busy) return held;
        await UnlockAsync(lctx, targets, kind, held).ConfigureAwait(false);
        held = 0;
        for (int i = 0; i < Children.Count; i++)
        {
            if ((on & (1u << i)) == 0) continue;
            var one = await LockOneAsync(lctx, i, targets, kind, DomainLockCmd.LockBlocking).ConfigureAwait(false);
            if (one.Ok || one.Error == Errno.ENOSYS) held |= 1u << i;
        }
        return held;
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
        Pending.Metadata => Children[i].InodeLkAsync(lctx, t.Loc, _domain, cmd, LockType.Write, MetadataLockStart, 1),
        _ => Children[i].InodeLkAsync(lctx, t.Loc, _domain, cmd, LockType.Write, 0, 0),
    };

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
