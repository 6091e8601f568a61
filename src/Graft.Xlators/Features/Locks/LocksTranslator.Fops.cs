using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Features.Locks;

// The fops features/locks answers itself (lk) or acts on before passing down (flush, release).
public sealed partial class LocksTranslator
{
    /// <summary>
    /// GETLK, SETLK and SETLKW for fcntl ranges and (with <see cref="FileLock.Flock"/>) flocks.
    /// Answered here: locks are this brick's state, not the storage's.
    /// </summary>
    public override ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        if (lk.Type is not (LockType.Read or LockType.Write or LockType.Unlock)) return Fail(Errno.EINVAL);
        var range = LockRange.WholeFile;
        if (!lk.Flock && LockRange.TryFrom(lk, out range) is var bad and not Errno.OK) return Fail(bad);
        var owner = new LockOwner(ctx.MountId, lk.Owner);
        int pid = lk.Pid != 0 ? lk.Pid : ctx.Pid;
        if (cmd == LockCmd.Reclaim) return ReclaimAsync(ctx, fd, owner, lk, range, pid);
        // In the grace, whatever could take a lock (or report one) waits for it to end; unlocks pass.
        if (lk.Type != LockType.Unlock && cmd is (LockCmd.GetLk or LockCmd.SetLk or LockCmd.SetLkW) && InGrace)
            return AfterGraceAsync(ctx, fd, cmd, lk);
        return cmd switch
        {
            LockCmd.GetLk => new(Test(fd.Inode.Gfid, owner, lk, range)),
            LockCmd.SetLk => Set(ctx, fd, owner, lk, range, pid, wait: false),
            LockCmd.SetLkW => Set(ctx, fd, owner, lk, range, pid, wait: lk.Type != LockType.Unlock),
            _ => Fail(Errno.EINVAL),
        };
    }

    /// <summary>close() of any fd: the closing owner's fcntl locks on the file go (POSIX semantics).</summary>
    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd)
    {
        if (Find(fd.Inode.Gfid) is { } s)
        {
            lock (s.Sync) s.ReleasePosixOf(new LockOwner(ctx.MountId, ctx.LockOwner));
            DropIfEmpty(s);
        }
        return base.FlushAsync(ctx, fd);
    }

    /// <summary>The fd is gone: its flocks go with it (flock semantics), and requests waiting through it fail (EBADF).</summary>
    public override ValueTask ReleaseAsync(Fd fd)
    {
        ReleaseFd(fd);
        return base.ReleaseAsync(fd);
    }

    /// <summary>flock works on directories too.</summary>
    public override ValueTask ReleasedirAsync(Fd fd)
    {
        ReleaseFd(fd);
        return base.ReleasedirAsync(fd);
    }

    private void ReleaseFd(Fd fd)
    {
        if (Find(fd.Inode.Gfid) is not { } s) return;
        lock (s.Sync) s.ReleaseFd(fd);
        DropIfEmpty(s);
    }

    private Result<FileLock> Test(Gfid gfid, LockOwner owner, in FileLock lk, LockRange range)
    {
        if (lk.Type == LockType.Unlock) return Errno.EINVAL; // as fcntl(F_GETLK) with F_UNLCK
        if (Find(gfid) is not { } s)
        {
            var free = lk;
            free.Type = LockType.Unlock;
            return free;
        }
        lock (s.Sync) return s.Test(owner, lk, range);
    }

    private ValueTask<Result<FileLock>> Set(FopContext ctx, Fd fd, LockOwner owner, FileLock lk, LockRange range, int pid, bool wait)
    {
        // An already interrupted SETLKW changes nothing, as a signal before the call would.
        if (wait && ctx.Cancellation.IsCancellationRequested)
        {
            Interlocked.Increment(ref _cancelled);
            if (Find(fd.Inode.Gfid) is { } orphanHome)
            {
                lock (orphanHome.Sync) orphanHome.DropOrphan(owner, lk.Type, range, lk.Flock);
                DropIfEmpty(orphanHome);
            }
            return Fail(Errno.EINTR);
        }
        Errno e;
        Waiter? w;
        TaskCompletionSource<Result<FileLock>>? caller;
        InodeLockState s;
        while (true)
        {
            s = Acquire(fd.Inode.Gfid);
            lock (s.Sync)
            {
                if (s.Dead) continue; // emptied and dropped between the lookup and the lock: take the new one
                e = s.Set(owner, lk.Type, range, pid, fd, lk.Flock, wait, _maxWaiters, out w, out caller);
            }
            break;
        }
        if (w is not null) return WaitAsync(w, caller!, ctx.Cancellation);
        DropIfEmpty(s); // an unlock, or a refused first request, can leave nothing behind
        switch (e)
        {
            case Errno.ENOLCK: LogLimits(); break;
            case Errno.OK:
                if (lk.Type != LockType.Unlock)
                {
                    Interlocked.Increment(ref _granted);
                    EnsureMarker();
                }
                var done = lk;
                done.Pid = pid;
                if (!lk.Flock) { done.Start = range.Start; done.Length = range.Length; }
                return new(done);
            case Errno.EAGAIN: Interlocked.Increment(ref _conflicts); break;
            case Errno.EDEADLK: Interlocked.Increment(ref _deadlocks); break;
        }
        return Fail(e);
    }

    /// <summary>
    /// A queued SETLKW. No timeout of its own: lock requests are exempt from frame-timeout, and the
    /// wait is bounded by the caller's cancellation (INTERRUPT, client gone, teardown) instead.
    /// </summary>
    private async ValueTask<Result<FileLock>> WaitAsync(Waiter w, TaskCompletionSource<Result<FileLock>> caller, CancellationToken ct)
    {
        Result<FileLock> r;
        using (ct.UnsafeRegister(static o => { var (t, w, c) = ((LocksTranslator, Waiter, TaskCompletionSource<Result<FileLock>>))o!; t.CancelWait(w, c); },
                                 (this, w, caller)))
            r = await caller.Task.ConfigureAwait(false);
        if (r.Error is Errno.OK or Errno.EDEADLK && Interlocked.Exchange(ref w.Counted, 1) == 0)
            Interlocked.Increment(ref r.Ok ? ref _granted : ref _deadlocks);
        if (r.Ok) EnsureMarker(); // before the grant is answered
        if (!r.Ok) DropIfEmpty(w.Home);
        if (r.Error == Errno.ENOLCK) LogLimits();
        return r;
    }

    /// <summary>A request was refused by a lock limit: say so in the log, at most once per 10 s, with the totals.</summary>
    private void LogLimits()
    {
        if (!_limitLog.Due()) return;
        _log.LimitsRefused(Name, _clients.HeldRefused, _clients.Max, _clients.WaitersRefused, _maxWaiters);
    }

    private void CancelWait(Waiter w, TaskCompletionSource<Result<FileLock>> caller)
    {
        bool cancelled;
        lock (w.Home.Sync) cancelled = w.Home.Cancel(w, caller, Errno.EINTR);
        if (!cancelled) return; // granted or failed first: the one outcome it had stands
        Interlocked.Increment(ref _cancelled);
        DropIfEmpty(w.Home);
    }

    private static ValueTask<Result<FileLock>> Fail(Errno e) => new(new Result<FileLock>(e));
}

internal static partial class LocksLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: lock limits refused {OverClient} request(s) past max-locks-per-client {Max} and {QueueFull} past max-waiters-per-file {MaxWaiters} so far (ENOLCK)")]
    public static partial void LimitsRefused(this ILogger log, string name, long overClient, int max, long queueFull, int maxWaiters);
}
