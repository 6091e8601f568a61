using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// Domain locks (inodelk, entrylk) sent from above: distribute's layout lock, a rebalance's file
// lock, a library caller's. They are held on every copy that is up, so they keep excluding each
// other while one copy is down; a lock is granted only where a quorum of copies granted it, so two
// holders always share a copy, even when each of them sees a different copy down. Replicate's own
// transaction locks (Locks.cs) take the same road with more on it (pre-ops, leases).
//
// Non-blocking: asked of every up copy at once; any copy that refuses (EAGAIN) refuses the lock
// and what was granted is given back. Blocking: one copy at a time in child order, waiting, as the
// transaction locks do, so two clients cannot each hold a part and wait for the other's. A copy
// that answers ENOTCONN went down meanwhile and is left out; a brick without a lock service
// (ENOSYS) counts as granted, and when every copy says so the answer is ENOSYS (nothing to give back).
public sealed partial class ReplicateTranslator
{
    public override ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length) =>
        DomainLockAsync(cmd, (i, c) => Children[i].InodeLkAsync(ctx, loc, domain, c, type, start, length));

    public override ValueTask<Errno> EntryLkAsync(FopContext ctx, Loc parent, string domain, string? name, DomainLockCmd cmd, LockType type) =>
        DomainLockAsync(cmd, (i, c) => Children[i].EntryLkAsync(ctx, parent, domain, name, c, type));

    private async ValueTask<Errno> DomainLockAsync(DomainLockCmd cmd, Func<int, DomainLockCmd, ValueTask<Errno>> call)
    {
        uint up = UpMask;
        if (cmd == DomainLockCmd.Unlock)
        {
            var r = await FanOutAsync(up, i => call(i, DomainLockCmd.Unlock)).ConfigureAwait(false);
            var first = FirstOk(r, up);
            return first.Ok || AllNoLocks(r, up) ? Errno.OK : first.Error;
        }
        if (!HasQuorum(up)) return Errno.ENOTCONN;
        Result<bool>[] got;
        if (cmd == DomainLockCmd.Lock)
        {
            got = await FanOutAsync(up, i => call(i, cmd)).ConfigureAwait(false);
            for (int i = 0; i < got.Length; i++)
                if ((up & (1u << i)) != 0 && !got[i].Ok && got[i].Error is not (Errno.ENOTCONN or Errno.ENOSYS))
                    return await GiveBackAsync(got, call, got[i].Error).ConfigureAwait(false);
        }
        else
        {
            got = new Result<bool>[Children.Count];
            for (int i = 0; i < got.Length; i++)
            {
                if ((up & (1u << i)) == 0) { got[i] = Errno.ENOTCONN; continue; }
                var e = await call(i, cmd).ConfigureAwait(false);
                got[i] = e == Errno.OK ? new Result<bool>(true) : e;
                if (e is not (Errno.OK or Errno.ENOTCONN or Errno.ENOSYS)) return await GiveBackAsync(got, call, e).ConfigureAwait(false);
            }
        }
        if (AllNoLocks(got, up)) return Errno.ENOSYS;
        return HasQuorum(Held(got)) ? Errno.OK : await GiveBackAsync(got, call, Errno.ENOTCONN).ConfigureAwait(false);
    }

    /// <summary>Unlocks where <paramref name="got"/> says the lock was granted, and answers <paramref name="why"/>.</summary>
    private async ValueTask<Errno> GiveBackAsync(Result<bool>[] got, Func<int, DomainLockCmd, ValueTask<Errno>> call, Errno why)
    {
        await FanOutAsync(Succeeded(got), i => call(i, DomainLockCmd.Unlock)).ConfigureAwait(false);
        return why;
    }

    private static bool AllNoLocks(Result<bool>[] r, uint mask)
    {
        bool any = false;
        for (int i = 0; i < r.Length; i++)
        {
            if ((mask & (1u << i)) == 0 || r[i].Error == Errno.ENOTCONN) continue;
            if (r[i].Error != Errno.ENOSYS) return false;
            any = true;
        }
        return any;
    }
}
