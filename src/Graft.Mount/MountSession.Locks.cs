using System.Diagnostics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

// POSIX locks and flock (issue 7). The bricks keep the locks (features/locks), owned by
// (mount identity, lock owner) and never by a graph generation (DESIGN invariant 9). The session
// adds what only the mount can do:
//  - a migration re-binds the locks and waiters of the old brick fd to the new one before the
//    old fd can be released (FileMigrator.RebindAsync); a failure fails the file closed;
//  - a blocking request waiting on a graph that is no longer active moves to the new graph
//    keeping its place in the brick's queue (LkWaitAsync);
//  - the mount remembers what it holds and takes it back after a brick restart, during the
//    brick's lock grace (LockKeeper).
public sealed partial class MountSession
{
    private TaskCompletionSource _switchSignal = NewSignal(); // completed (and replaced) at every switch

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called at every publish of a new active graph: wakes requests waiting on older graphs.</summary>
    private void SignalSwitch() => Interlocked.Exchange(ref _switchSignal, NewSignal()).TrySetResult();

    /// <summary>
    /// LK: GETLK, SETLK, SETLKW (and reclaims) with <see cref="FileLock.Owner"/> as the front end
    /// set it (the kernel's lock owner, or the library stream's). A SETLKW waits until granted,
    /// cancelled (<see cref="FopContext.Cancellation"/> → EINTR) or failed, across any number of
    /// graph switches.
    /// </summary>
    public async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, MountFile file, LockCmd cmd, FileLock lk)
    {
        // As fcntl(2): a read lock needs an fd open for reading, a write lock one open for writing.
        // (A reclaim takes back what was granted, possibly through another open of the file.)
        var acc = file.Flags & OpenFlags.O_ACCMODE;
        if (!lk.Flock && (cmd is LockCmd.SetLk or LockCmd.SetLkW) &&
            ((lk.Type == LockType.Write && acc == OpenFlags.O_RDONLY) || (lk.Type == LockType.Read && acc == OpenFlags.O_WRONLY)))
            return Errno.EBADF;
        if (cmd == LockCmd.SetLkW) return await LkWaitAsync(ctx, file, lk).ConfigureAwait(false);
        if (cmd != LockCmd.GetLk) file.NoteLocking(); // before the call: a migration from here on re-binds
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try
            {
                // Writes an older graph acknowledged land before an unlock lets anyone else in.
                if (cmd != LockCmd.GetLk && lk.Type == LockType.Unlock) await _graphs.SettleOlderAsync(file.Node.Gfid, g).ConfigureAwait(false);
                var r = await g.Top.LkAsync(ctx, f.Value, cmd, lk).ConfigureAwait(false);
                if (r.Ok && cmd != LockCmd.GetLk) await GrantedAsync(file, f.Value, lk).ConfigureAwait(false);
                return r;
            }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Lk, t0); }
    }

    /// <summary>
    /// SETLKW. While it waits on graph g and a newer graph becomes active, the request moves: the
    /// file migrates (which re-binds the queued request to the new brick fd, keeping its place),
    /// the same request is sent through the new fd (the brick joins it to the queued one), and
    /// only then is the call on the old graph cancelled, so the old graph can retire. The caller
    /// gets exactly one answer: the first call to finish that is not the cancelled old one.
    /// </summary>
    private async ValueTask<Result<FileLock>> LkWaitAsync(FopContext ctx, MountFile file, FileLock lk)
    {
        file.NoteLocking();
        var (call, error) = await StartWaitAsync(ctx, file, lk).ConfigureAwait(false);
        if (call is null) return error;
        Task? retry = null;
        while (true)
        {
            var signal = retry ?? Volatile.Read(ref _switchSignal).Task;
            if (retry is null && !ReferenceEquals(ActiveGraph, call.Graph)) signal = Task.CompletedTask;
            await Task.WhenAny(call.Task, signal).ConfigureAwait(false);
            retry = null;
            if (call.Task.IsCompleted)
            {
                var r = await call.Task.ConfigureAwait(false);
                if (r.Ok) await GrantedAsync(file, call.Fd, lk).ConfigureAwait(false);
                await call.EndAsync(this).ConfigureAwait(false);
                if (r.Error != Errno.ENOTCONN) return r;
                if (!await ReconnectedForWaitAsync(ctx, file).ConfigureAwait(false))
                    return ctx.Cancellation.IsCancellationRequested ? Errno.EINTR : r;
                // The brick went away under the wait (its queue went with it) and is back, or the graph the
                // wait was on was torn down: ask again on the active graph. A restarted brick holds it until its
                // lock grace ends, so the locks taken back in the grace come first.
                (call, error) = await StartWaitAsync(ctx, file, lk).ConfigureAwait(false);
                if (call is null) return error;
                Interlocked.Increment(ref _counters.LockWaitsResent);
                continue;
            }
            if (ReferenceEquals(ActiveGraph, call.Graph)) continue;

            // Move: the new call first (it joins the queued request the migration re-bound).
            var (moved, _) = await StartWaitAsync(ctx, file, lk).ConfigureAwait(false);
            if (moved is null)
            {
                if (file.Failure == Errno.OK)
                {
                    // Could not move now (the brick unreachable from the new graph): the request
                    // still waits, with its locks, on the old graph; try again shortly.
                    retry = Task.Delay(Options.LockRetryDelay);
                    continue;
                }
                await call.CancelAndEndAsync(this).ConfigureAwait(false);
                return file.Failure;
            }
            Interlocked.Increment(ref _counters.LockWaitsMoved);
            // If the grant beats this cancellation, the owner holds the lock and the new call is
            // answered at once by the brick (an owner never conflicts with itself).
            await call.CancelAndEndAsync(this).ConfigureAwait(false);
            call = moved;
        }
    }

    /// <summary>
    /// After a blocking lock call failed with ENOTCONN: true once the active graph is up again (bounded by
    /// <see cref="MountOptions.LockWaitReconnectTimeout"/>), so the wait can be asked again; false if the caller gave up, the file
    /// failed closed, the mount is going away, or the brick did not come back in time.
    /// </summary>
    private async ValueTask<bool> ReconnectedForWaitAsync(FopContext ctx, MountFile file)
    {
        var deadline = Environment.TickCount64 + (long)Options.LockWaitReconnectTimeout.TotalMilliseconds;
        // At least one short pause: a child that still looks up has not yet noticed what failed the call.
        do
        {
            try { await Task.Delay(Options.LockRetryDelay, ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return false; }
            if (file.Failure != Errno.OK || file.Released || Volatile.Read(ref _disposed) != 0) return false;
            if (ActiveGraph.IsChildUp) return true;
        }
        while (Environment.TickCount64 < deadline);
        return false;
    }

    /// <summary>
    /// Sends the SETLKW through the file's fd on the active graph (migrating the file first if it
    /// is behind, which re-binds its locks and queued requests there), with a cancellation of its
    /// own linked to the caller's. Null with the error when the file cannot be used now.
    /// </summary>
    private async ValueTask<(PendingWait? Call, Errno Error)> StartWaitAsync(FopContext ctx, MountFile file, FileLock lk)
    {
        var callCtx = ctx.CloneForCall();
        var (lease, f) = await EnterFileAsync(callCtx, file).ConfigureAwait(false);
        if (!f.Ok) { lease.Dispose(); return (null, f.Error); }
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.Cancellation);
        callCtx.Cancellation = cts.Token;
        return (new PendingWait(lease, f.Value, cts, lease.Graph.Top.LkAsync(callCtx, f.Value, LockCmd.SetLkW, lk).AsTask()), Errno.OK);
    }

    /// <summary>One SETLKW call in flight on one graph: it holds that graph (a lease) and a reference on its fd.</summary>
    private sealed record PendingWait(GraphLease Lease, Fd Fd, CancellationTokenSource Cts, Task<Result<FileLock>> Task)
    {
        public Graph Graph => Lease.Graph;

        /// <summary>Interrupts the call, waits for its answer (EINTR, or the grant if that won), and ends it.</summary>
        public async ValueTask CancelAndEndAsync(MountSession s)
        {
            Cts.Cancel();
            await Task.ConfigureAwait(false);
            await EndAsync(s).ConfigureAwait(false);
        }

        public async ValueTask EndAsync(MountSession s)
        {
            Cts.Dispose();
            try { await s.PutFdAsync(Fd).ConfigureAwait(false); }
            finally { Lease.Dispose(); }
        }
    }

    /// <summary>
    /// A set was granted through <paramref name="used"/>: remember it, and if the file moved to a
    /// newer graph while the call ran (its migration re-bound what the old fd held before this
    /// grant landed there), re-bind again so nothing stays behind on the old fd.
    /// </summary>
    private async ValueTask GrantedAsync(MountFile file, Fd used, FileLock lk)
    {
        _locks.Remember(file, lk);
        if (ReferenceEquals(file.Fd, used) || file.IsDirectory) return;
        await file.MigrationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var cur = file.Fd;
            if (ReferenceEquals(cur, used) || file.Released || !cur.TryRef()) return;
            var g = cur.Graph!;
            try
            {
                using var lease = GraphSet.Hold(g);
                var e = await _migrator.RebindAsync(_migrator.ContextFor(file, g), file, used, cur).ConfigureAwait(false);
                if (e != Errno.OK) file.FailClosed(Errno.EIO);
            }
            finally { await PutFdAsync(cur).ConfigureAwait(false); }
        }
        finally { file.MigrationLock.Release(); }
    }

    /// <summary>
    /// close(2) of a file that failed closed: the brick must still drop the owner's fcntl locks
    /// (they belong to the owner, not to the fd), so FLUSH goes to the fd's own graph; the caller
    /// gets EIO all the same.
    /// </summary>
    private async ValueTask<Errno> FlushFailedAsync(FopContext ctx, MountFile file)
    {
        var fd = file.Fd;
        var g = fd.Graph!;
        var lease = GraphSet.Hold(g);
        try
        {
            if (g.State != GraphState.Destroyed && fd.TryRef())
            {
                ctx.Graph = g;
                ctx.MountId = Options.MountId;
                try { await g.Top.FlushAsync(ctx, fd).ConfigureAwait(false); }
                finally { await PutFdAsync(fd).ConfigureAwait(false); }
            }
        }
        finally { lease.Dispose(); ctx.Graph = null; }
        file.Node.Locks?.DropOwner(ctx.LockOwner);
        return file.Failure;
    }
}
