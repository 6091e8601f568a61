using Graft.Core;

namespace Graft.Xlators.Features.Locks;

// Domain locks: inodelk and entrylk, the locks cluster translators (replicate) take around their
// transactions. Each (kind, object, domain) has a state of its own (DomainLockState), so domains
// are independent of one another, and of the fcntl/flock locks in InodeLockState. A lock belongs
// to (mount, lock owner) for conflicts and to the session it came through for its lifetime: it goes
// when that session ends (SessionGone), or with its mount (ClientGone). No lock grace: a brick that
// restarts has lost every session, and the transactions that held its domain locks with them.
// Lock order: the domain map's lock, then one state's lock, then the client counts' lock.
public sealed partial class LocksTranslator
{
    private readonly object _domainSync = new();
    private readonly Dictionary<DomainKey, DomainLockState> _domains = new();
    private long _domainTimeoutMs = 60_000;
    private long _domainGranted, _domainConflicts, _domainTimeouts, _domainCancelled, _domainBadUnlocks, _domainLockXattrops, _domainLockedCreates;

    public override async ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length)
    {
        if (start < 0 || length < 0 || (length > 0 && start > LockRange.Eof - length + 1)) return Errno.EINVAL;
        var range = new LockRange(start, length == 0 ? LockRange.Eof : start + length - 1);
        if (await GfidOfAsync(ctx, loc).ConfigureAwait(false) is not { Ok: true } gfid) return Errno.EINVAL;
        return await DomainLockAsync(ctx, new DomainKey(DomainKind.Inode, gfid.Value, domain), cmd, type, range, null).ConfigureAwait(false);
    }

    public override async ValueTask<Errno> EntryLkAsync(FopContext ctx, Loc parent, string domain, string? name, DomainLockCmd cmd, LockType type)
    {
        if (name is { Length: 0 }) return Errno.EINVAL;
        if (await GfidOfAsync(ctx, parent).ConfigureAwait(false) is not { Ok: true } gfid) return Errno.EINVAL;
        return await DomainLockAsync(ctx, new DomainKey(DomainKind.Entry, gfid.Value, domain), cmd, type, LockRange.WholeFile, name).ConfigureAwait(false);
    }

    /// <summary>
    /// inodelk with a transaction's counters, one round trip for the caller instead of two: the pre-op
    /// once the lock is granted (the lock given back if the add fails, so an error means nothing is
    /// held), or the post-op before the unlock. The add goes down as an ordinary xattrop, so
    /// features/index below sees it as it sees every other.
    /// </summary>
    public override ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                   string? name, ReadOnlyMemory<byte> deltas) =>
        LockXattropAsync(ctx, loc, null, domain, cmd, type, start, length, name, deltas);

    /// <summary>As <see cref="InodeLkXattropAsync"/> on the fd's object, the add made through the fd (protocol/server's release-inodelk-xattrop).</summary>
    public override ValueTask<Result<byte[]>> FinodeLkXattropAsync(FopContext ctx, Fd fd, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                    string? name, ReadOnlyMemory<byte> deltas) =>
        LockXattropAsync(ctx, Loc.Of(fd.Inode), fd, domain, cmd, type, start, length, name, deltas);

    private async ValueTask<Result<byte[]>> LockXattropAsync(FopContext ctx, Loc loc, Fd? fd, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                            string? name, ReadOnlyMemory<byte> deltas)
    {
        if (string.IsNullOrEmpty(name)) return Errno.EINVAL;
        Interlocked.Increment(ref _domainLockXattrops);
        if (cmd == DomainLockCmd.Unlock)
        {
            var post = await AddAsync(ctx, loc, fd, name, deltas).ConfigureAwait(false);
            await InodeLkAsync(ctx, loc, domain, cmd, type, start, length).ConfigureAwait(false);
            return post;
        }
        var e = await InodeLkAsync(ctx, loc, domain, cmd, type, start, length).ConfigureAwait(false);
        if (e != Errno.OK) return e;
        var pre = await AddAsync(ctx, loc, fd, name, deltas).ConfigureAwait(false);
        if (!pre.Ok) await InodeLkAsync(ctx, loc, domain, DomainLockCmd.Unlock, type, start, length).ConfigureAwait(false);
        return pre;
    }

    /// <summary>
    /// A transaction's add, through <paramref name="fd"/> when there is one (the brick does not look the object up
    /// again by its handle), by <paramref name="loc"/> when there is none or nothing below makes fxattrop.
    /// </summary>
    private async ValueTask<Result<byte[]>> AddAsync(FopContext ctx, Loc loc, Fd? fd, string name, ReadOnlyMemory<byte> deltas)
    {
        if (fd is not null)
        {
            var r = await base.FxattropAsync(ctx, fd, name, deltas).ConfigureAwait(false);
            if (r.Error != Errno.ENOSYS) return r;
        }
        return await base.XattropAsync(ctx, loc, name, deltas).ConfigureAwait(false);
    }

    /// <summary>
    /// create with the new file's lock and pre-op, one round trip for the caller instead of two. The lock is
    /// taken first, on the GFID the create will give the file: nobody can have asked for the lock of a file
    /// that does not exist yet, so it is free — except when the name already holds that GFID (a retried
    /// create opens it), whose lock may be held: then the file is opened without it (EAGAIN in the answer).
    /// Taken after the create, another client that found the new name on this brick could lock the file
    /// first. The add goes down as an ordinary xattrop (features/index sees it), as root when the caller's
    /// session is trusted (it may call as root anyway) and as the caller otherwise (an untrusted session
    /// never touches trusted.* xattrs); if it fails the lock is given back and its error answered in
    /// <see cref="LockedCreate.Lock"/>, beside the create's success.
    /// </summary>
    public override async ValueTask<Result<LockedCreate>> CreateInodeLkXattropAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd,
                                                                                    string domain, FileLock lk, string name, ReadOnlyMemory<byte> deltas)
    {
        if (string.IsNullOrEmpty(name) || domain.Length == 0 || gfid.IsZero || lk.Type is not (LockType.Read or LockType.Write)
            || lk.Start < 0 || lk.Length < 0 || (lk.Length > 0 && lk.Start > LockRange.Eof - lk.Length + 1)) return Errno.EINVAL;
        Interlocked.Increment(ref _domainLockedCreates);
        var range = new LockRange(lk.Start, lk.Length == 0 ? LockRange.Eof : lk.Start + lk.Length - 1);
        var key = new DomainKey(DomainKind.Inode, gfid, domain);
        var lctx = ctx.CloneForCall();
        lctx.Graph = ctx.Graph;
        lctx.LockOwner = lk.Owner;
        var held = await DomainLockAsync(lctx, key, DomainLockCmd.Lock, lk.Type, range, null).ConfigureAwait(false);
        var made = await base.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
        if (held == Errno.OK && !(made.Ok && made.Value.Gfid == gfid))
        {
            DomainUnlock(key, new LockOwner(lctx.MountId, lctx.LockOwner), range, null);
            if (made.Ok) held = Errno.ESTALE;
        }
        if (!made.Ok) return made.Error;
        if (held != Errno.OK) return new LockedCreate(made.Value, held);
        Interlocked.Increment(ref _domainLockXattrops);
        if (!ctx.Untrusted) { lctx.Uid = 0; lctx.Gid = 0; lctx.Groups = []; }
        var pre = await AddAsync(lctx, Loc.Of(fd.Inode), fd, name, deltas).ConfigureAwait(false);
        if (pre.Ok) return new LockedCreate(made.Value, Errno.OK);
        DomainUnlock(key, new LockOwner(lctx.MountId, lctx.LockOwner), range, null);
        return new LockedCreate(made.Value, pre.Error);
    }

    /// <summary>
    /// A transaction's post-op and unlock (as inodelk-xattrop UNLOCK on the fd's object), then the fd's
    /// release. protocol/server makes this of the two fops itself (its fds are reference counted); this is
    /// for a graph that calls it here directly.
    /// </summary>
    public override async ValueTask<Result<byte[]>> ReleaseInodeLkXattropAsync(FopContext ctx, Fd fd, string domain, LockType type, long start, long length,
                                                                                string name, ReadOnlyMemory<byte> deltas)
    {
        var r = await FinodeLkXattropAsync(ctx, fd, domain, DomainLockCmd.Unlock, type, start, length, name, deltas).ConfigureAwait(false);
        await ReleaseAsync(fd).ConfigureAwait(false);
        return r;
    }

    /// <summary>The object a loc names: its GFID when it carries one, else found by looking its name up.</summary>
    private async ValueTask<Result<Gfid>> GfidOfAsync(FopContext ctx, Loc loc)
    {
        var g = loc.Inode?.Gfid ?? loc.Gfid;
        if (!g.IsZero) return g;
        if (loc.IsNameless) return Errno.EINVAL;
        var r = await base.LookupAsync(ctx, loc).ConfigureAwait(false);
        return r.Ok ? r.Value.Gfid : r.Error;
    }

    private ValueTask<Errno> DomainLockAsync(FopContext ctx, DomainKey key, DomainLockCmd cmd, LockType type, LockRange range, string? name)
    {
        if (key.Domain.Length == 0) return new(Errno.EINVAL);
        var owner = new LockOwner(ctx.MountId, ctx.LockOwner);
        if (cmd == DomainLockCmd.Unlock) return new(DomainUnlock(key, owner, range, name));
        if (cmd is not (DomainLockCmd.Lock or DomainLockCmd.LockBlocking) || type is not (LockType.Read or LockType.Write)) return new(Errno.EINVAL);
        bool wait = cmd == DomainLockCmd.LockBlocking;
        if (wait && ctx.Cancellation.IsCancellationRequested) { Interlocked.Increment(ref _domainCancelled); return new(Errno.EINTR); }
        var l = new DomainLock(owner, ctx.Session, type, range, name);
        while (true)
        {
            var s = AcquireDomain(key);
            Errno e;
            lock (s.Sync)
            {
                if (s.Dead) continue; // emptied and dropped between the lookup and the lock: take the new one
                e = s.Lock(l, wait, _maxWaiters);
            }
            if (e == Errno.OK && l.Caller is not null) return WaitDomainAsync(s, l, ctx.Cancellation);
            if (e == Errno.OK) Interlocked.Increment(ref _domainGranted);
            else
            {
                if (e == Errno.EAGAIN) Interlocked.Increment(ref _domainConflicts);
                if (e == Errno.ENOLCK) LogLimits();
                DropDomainIfEmpty(s);
            }
            return new(e);
        }
    }

    private Errno DomainUnlock(DomainKey key, LockOwner owner, LockRange range, string? name)
    {
        Errno e = Errno.EINVAL;
        if (FindDomain(key) is { } s)
        {
            lock (s.Sync) if (!s.Dead) e = s.Unlock(owner, range, name);
            DropDomainIfEmpty(s);
        }
        // As GlusterFS: an unlock of a lock not held is EINVAL (a caller's bookkeeping is wrong).
        if (e == Errno.EINVAL) Interlocked.Increment(ref _domainBadUnlocks);
        return e;
    }

    /// <summary>
    /// A queued blocking request: granted in its turn, or EAGAIN when domain-lock-timeout passes
    /// first, or EINTR when its call is cancelled (the client interrupts it, or its connection
    /// closes), or ENOTCONN when its session or mount goes.
    /// </summary>
    private async ValueTask<Errno> WaitDomainAsync(DomainLockState s, DomainLock w, CancellationToken ct)
    {
        Errno r;
        using (var bound = new CancellationTokenSource(TimeSpan.FromMilliseconds(Interlocked.Read(ref _domainTimeoutMs))))
        using (bound.Token.UnsafeRegister(static o => { var (t, s, w) = ((LocksTranslator, DomainLockState, DomainLock))o!; t.WithdrawDomain(s, w, Errno.EAGAIN); }, (this, s, w)))
        using (ct.UnsafeRegister(static o => { var (t, s, w) = ((LocksTranslator, DomainLockState, DomainLock))o!; t.WithdrawDomain(s, w, Errno.EINTR); }, (this, s, w)))
            r = await w.Caller!.Task.ConfigureAwait(false);
        if (r == Errno.OK) Interlocked.Increment(ref _domainGranted);
        else DropDomainIfEmpty(s);
        if (r == Errno.ENOLCK) LogLimits();
        return r;
    }

    private void WithdrawDomain(DomainLockState s, DomainLock w, Errno error)
    {
        bool withdrawn;
        lock (s.Sync) withdrawn = s.Withdraw(w, error);
        if (!withdrawn) return; // granted or failed first: that outcome stands
        Interlocked.Increment(ref error == Errno.EAGAIN ? ref _domainTimeouts : ref _domainCancelled);
    }

    // ---- the states ----

    private DomainLockState AcquireDomain(DomainKey key)
    {
        lock (_domainSync)
        {
            if (!_domains.TryGetValue(key, out var s)) _domains[key] = s = new DomainLockState(key, _clients);
            return s;
        }
    }

    private DomainLockState? FindDomain(DomainKey key)
    {
        lock (_domainSync) return _domains.TryGetValue(key, out var s) ? s : null;
    }

    private void DropDomainIfEmpty(DomainLockState s)
    {
        lock (_domainSync)
            lock (s.Sync)
            {
                if (s.Dead || !s.IsEmpty) return;
                s.Dead = true;
                _domains.Remove(s.Key);
            }
    }

    private DomainLockState[] DomainSnapshot()
    {
        lock (_domainSync) return [.. _domains.Values];
    }

    /// <summary>Drops the domain locks that match and fails the waiting requests that match (ENOTCONN); how many.</summary>
    private int ReleaseDomains(Func<DomainLock, bool> match)
    {
        int n = 0;
        foreach (var s in DomainSnapshot())
        {
            lock (s.Sync) n += s.Release(match, Errno.ENOTCONN);
            DropDomainIfEmpty(s);
        }
        return n;
    }

    /// <summary>A session ended for good: the domain locks taken through it go, and the requests it still had waiting fail.</summary>
    public override void SessionGone(Guid mountId, Guid session)
    {
        if (mountId != Guid.Empty) ReleaseDomains(l => l.Owner.Mount == mountId && l.Session == session);
        base.SessionGone(mountId, session);
    }

    private (int Held, int Waiting, int Objects) DomainCounts()
    {
        int held = 0, waiting = 0, objects = 0;
        foreach (var s in DomainSnapshot())
            lock (s.Sync)
            {
                if (s.Dead) continue;
                objects++;
                held += s.HeldCount;
                waiting += s.WaiterCount;
            }
        return (held, waiting, objects);
    }
}
