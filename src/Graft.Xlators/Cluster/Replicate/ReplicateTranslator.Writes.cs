using System.Collections.Concurrent;
using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>
/// Consecutive writes to one file share one transaction (GlusterFS's eager lock + delayed
/// post-op): the first write takes the lock and does the pre-op, later ones only write, and the
/// post-op and unlock happen post-op-delay after the window opened — or at once on fsync, flush,
/// close, any other change to the file, or the graph going down. So a sequential
/// write costs one round trip per write, not three. While a window is open every copy counts the
/// file as pending for every child: a client that dies meanwhile leaves copies that blame
/// themselves, which lookup treats as "no copy known good" and heals from the biggest.
/// </summary>
internal sealed class WriteWindow(TxnTarget target, FopContext tctx, uint locked, uint armed)
{
    public readonly TxnTarget Target = target;
    public readonly FopContext Ctx = tctx;
    public readonly uint Locked = locked;
    /// <summary>Children whose copy got the pre-op: the only ones written in this window.</summary>
    public readonly uint Armed = armed;
    // Guarded by lock(Target.State).
    public uint Failed;
    public int Inflight;
    public bool Closing;
    public int Writes;
    public Timer? Timer;
    /// <summary>Set (outside the lock) once the window is closing and its last write in flight has ended.</summary>
    public readonly Signal Drained = new();
    /// <summary>Set once the window's post-op is done (or failed) and the window is gone from its inode.</summary>
    public readonly Signal Closed = new();
    /// <summary>The unlock after the post-op, set before <see cref="Closed"/>: nobody who closed the window waits for it.</summary>
    public Task Unlocked = Task.CompletedTask;
}

public sealed partial class ReplicateTranslator
{
    private readonly ConcurrentDictionary<WriteWindow, byte> _windows = new();

    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        if (fd.GetCtx(this) is not ReplFd f) return Errno.EBADF;
        var st = StateOf(fd.Inode);
        if (st.SplitBrain) { Interlocked.Increment(ref _splitBrainRefusals); return Errno.EIO; }
        var (w, e) = await EnterWindowAsync(ctx, fd, f, st).ConfigureAwait(false);
        if (w is null) return e;
        uint on = w.Armed & f.Opened & ~Volatile.Read(ref w.Failed) & UpMask;
        var results = await FanOutAsync(on, i => Children[i].WritevAsync(ctx, fd, data, offset)).ConfigureAwait(false);
        uint done = Succeeded(results);
        uint missed = w.Armed & ~done;
        if (missed != 0) st.Blame(missed);
        bool closeNow, drained;
        lock (st)
        {
            w.Failed |= missed;
            w.Writes++;
            closeNow = Volatile.Read(ref _postOpDelayMs) == 0;
            drained = --w.Inflight == 0 && w.Closing;
        }
        // Outside the lock: a closer that may go on inline (FLUSH, fsync, the release) makes its post-op from here.
        if (drained) w.Drained.Set();
        if (closeNow) await CloseWindowAsync(st, ctx.ContinueInline).ConfigureAwait(false);
        return Outcome(results, on, done);
    }

    /// <summary>
    /// The open window of <paramref name="st"/>, counted in (Inflight), or a new one: this client's
    /// mutex on the file, the bricks' data lock, the pre-op. The window holds the mutex until it closes.
    /// </summary>
    /// <remarks>
    /// One write opens the window; writes that come meanwhile (several in flight, from write-behind)
    /// wait for it and join it, rather than queue on the mutex the window holds until it closes.
    /// </remarks>
    private async ValueTask<(WriteWindow? Window, Errno Error)> EnterWindowAsync(FopContext ctx, Fd fd, ReplFd f, ReplInode st)
    {
        Signal opening;
        while (true)
        {
            Signal opened;
            lock (st)
            {
                if (st.Window is { Closing: false } w) { w.Inflight++; return (w, Errno.OK); }
                if (st.Opening is null)
                {
                    opening = st.Opening = new Signal();
                    break;
                }
                opened = st.Opening;
            }
            // A writer that may go on inline (write-behind's pump for a FUSE writer) joins where the opening ends.
            try { await opened.WaitAsync(ctx.ContinueInline).WaitAsync(ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return (null, Errno.EINTR); }
        }
        try { return await OpenWindowAsync(ctx, fd, f, st).ConfigureAwait(false); }
        finally
        {
            lock (st) st.Opening = null;
            opening.Set();
        }
    }

    private async ValueTask<(WriteWindow? Window, Errno Error)> OpenWindowAsync(FopContext ctx, Fd fd, ReplFd f, ReplInode st)
    {
        try { await st.Mutex.EnterAsync(ctx.ContinueInline, ctx.Cancellation).ConfigureAwait(false); }
        catch (OperationCanceledException) { return (null, Errno.EINTR); }
        // Windows hold the mutex while open, so none is open now: this caller opens the next.
        uint up = f.Opened & UpMask;
        if (!HasQuorum(up))
        {
            st.Mutex.Release();
            Interlocked.Increment(ref _quorumRefusals);
            return (null, Errno.EROFS);
        }
        Interlocked.Increment(ref _transactions);
        var tctx = LockContext(ctx); // the window outlives the write that opened it: no cancellation
        TxnTarget[] target = [new(Loc.Of(fd.Inode), st, null)];
        var (locked, armed) = await LockAndPreOpAsync(tctx, target, Pending.Data, up).ConfigureAwait(false);
        if (!HasQuorum(armed))
        {
            await PostOpAsync(tctx, target, Pending.Data, armed, 0).ConfigureAwait(false);
            await UnlockAsync(tctx, target, Pending.Data, locked).ConfigureAwait(false);
            st.Mutex.Release();
            Interlocked.Increment(ref _quorumRefusals);
            return (null, Errno.EROFS);
        }
        Blame(target, armed);
        var win = new WriteWindow(target[0], tctx, locked, armed) { Inflight = 1 };
        lock (st) st.Window = win;
        _windows[win] = 0;
        long delay = Volatile.Read(ref _postOpDelayMs);
        // A window lives at most post-op-delay: a writer that never stops costs one pre-op and one
        // post-op per delay, and another client waiting for the file's lock waits at most that long.
        if (delay > 0) win.Timer = new Timer(_ => _ = CloseWindowAsync(st, tctx.ContinueInline), null, delay, Timeout.Infinite);
        return (win, Errno.OK);
    }

    /// <summary>
    /// Ends the open write window of <paramref name="st"/>, if any: waits for its writes in flight,
    /// takes the count off for every child that got all of them (with the unlock, in one request, where
    /// the brick has inodelk-xattrop); then, in the background, unlocks what is still locked and lets the
    /// next transaction have the file (a flush or fsync waits for the post-op, never for a separate
    /// unlock, as a transaction's caller). A concurrent caller waits for the same close. <paramref name="inline"/>: the
    /// caller's code never blocks (its context's ContinueInline), so its waits go on where they end (<see cref="Signal"/>).
    /// </summary>
    private async ValueTask CloseWindowAsync(ReplInode st, bool inline) => await CloseWindowAsync(st, inline, null, 0).ConfigureAwait(false);

    /// <summary>
    /// As above, and on each copy in <paramref name="opened"/> whose post-op and unlock can go with the release of
    /// <paramref name="release"/> (release-inodelk-xattrop), they do: returns those copies, whose fd is released.
    /// </summary>
    private async ValueTask<uint> CloseWindowAsync(ReplInode st, bool inline, Fd? release, uint opened)
    {
        WriteWindow? w;
        bool closer = false, drained = false;
        lock (st)
        {
            w = st.Window;
            if (w is null) return 0;
            if (!w.Closing)
            {
                w.Closing = true;
                closer = true;
                drained = w.Inflight == 0;
            }
        }
        if (!closer) { await w.Closed.WaitAsync(inline).ConfigureAwait(false); return 0; }
        if (drained) w.Drained.Set();
        uint locked = 0, released = 0;
        try
        {
            await w.Drained.WaitAsync(inline).ConfigureAwait(false);
            w.Timer?.Dispose();
            uint done = w.Armed & ~w.Failed;
            (locked, released) = await PostOpUnlockingAsync(w.Ctx, [w.Target], Pending.Data, w.Armed, done, w.Locked, release, opened).ConfigureAwait(false);
            if (w.Writes > 1) Interlocked.Increment(ref _delayedPostOps);
            if (released != 0) Interlocked.Increment(ref _releasedPostOps);
        }
        finally
        {
            lock (st) st.Window = null;
            w.Unlocked = FinishWindowAsync(w, locked);
            w.Closed.Set();
        }
        return released;
    }

    /// <summary>Unlocks what a closed window still holds on the bricks (nothing if its post-op failed), then gives the file's mutex back.</summary>
    private async Task FinishWindowAsync(WriteWindow w, uint locked)
    {
        try { if (locked != 0) await UnlockAsync(w.Ctx, [w.Target], Pending.Data, locked).ConfigureAwait(false); }
        catch (Exception e) { Graph?.ReportError(this, "unlock failed", e); }
        finally
        {
            _windows.TryRemove(w, out _);
            w.Target.State.Mutex.Release();
        }
    }

    /// <summary>The graph is going down: every open window's post-op and unlock are done first.</summary>
    private async ValueTask CloseAllWindowsAsync()
    {
        foreach (var w in _windows.Keys)
        {
            await CloseWindowAsync(w.Target.State, inline: false).ConfigureAwait(false);
            await w.Closed.WaitAsync(inline: false).ConfigureAwait(false);
            await w.Unlocked.ConfigureAwait(false);
        }
    }
}
