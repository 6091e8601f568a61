using Graft.Core;

namespace Graft.Mount;

// Blocking lock requests (F_SETLKW, issue 7). A request waits in its brick's queue, which is not a
// graph's: when a newer graph becomes active, the request moves there keeping its place (the file's
// migration re-binds the queued request to the new brick fd), and when its brick goes away under it
// (the queue went with it) it is asked again once the brick is back.
internal sealed partial class LockKeeper
{
    /// <summary>
    /// SETLKW. While it waits on graph g and a newer graph becomes active, the request moves: the
    /// file migrates (which re-binds the queued request to the new brick fd, keeping its place),
    /// the same request is sent through the new fd (the brick joins it to the queued one), and
    /// only then is the call on the old graph cancelled, so the old graph can retire. The caller
    /// gets exactly one answer: the first call to finish that is not the cancelled old one.
    /// </summary>
    public async ValueTask<Result<FileLock>> WaitAsync(FopContext ctx, MountFile file, FileLock lk)
    {
        file.NoteLocking();
        var (call, error) = await StartWaitAsync(ctx, file, lk).ConfigureAwait(false);
        if (call is null) return error;
        Task? retry = null;
        while (true)
        {
            var signal = retry ?? _graphs.NextSwitch;
            if (retry is null && !ReferenceEquals(_graphs.Active, call.Graph)) signal = Task.CompletedTask;
            await Task.WhenAny(call.Task, signal).ConfigureAwait(false);
            retry = null;
            if (call.Task.IsCompleted)
            {
                var r = await call.Task.ConfigureAwait(false);
                if (r.Ok) await GrantedAsync(file, call.Fd, lk).ConfigureAwait(false);
                await call.EndAsync(_session).ConfigureAwait(false);
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
            if (ReferenceEquals(_graphs.Active, call.Graph)) continue;

            // Move: the new call first (it joins the queued request the migration re-bound).
            var (moved, _) = await StartWaitAsync(ctx, file, lk).ConfigureAwait(false);
            if (moved is null)
            {
                if (file.Failure == Errno.OK)
                {
                    // Could not move now (the brick unreachable from the new graph): the request
                    // still waits, with its locks, on the old graph; try again shortly.
                    retry = Task.Delay(_options.LockRetryDelay);
                    continue;
                }
                await call.CancelAndEndAsync(_session).ConfigureAwait(false);
                return file.Failure;
            }
            Interlocked.Increment(ref _counters.LockWaitsMoved);
            // If the grant beats this cancellation, the owner holds the lock and the new call is
            // answered at once by the brick (an owner never conflicts with itself).
            await call.CancelAndEndAsync(_session).ConfigureAwait(false);
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
        var deadline = Environment.TickCount64 + (long)_options.LockWaitReconnectTimeout.TotalMilliseconds;
        // At least one short pause: a child that still looks up has not yet noticed what failed the call.
        do
        {
            try { await Task.Delay(_options.LockRetryDelay, ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return false; }
            if (file.Failure != Errno.OK || file.Released || _closed.IsCancellationRequested) return false;
            if (_graphs.Active.IsChildUp) return true;
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
        var (lease, f) = await _session.EnterFileAsync(callCtx, file).ConfigureAwait(false);
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
}
