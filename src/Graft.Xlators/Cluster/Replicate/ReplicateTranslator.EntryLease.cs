using System.Collections.Concurrent;
using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>
/// An eager entry lock: the bricks' entrylk on a whole directory, held by this client across its
/// consecutive namespace changes there (create, mkdir, unlink, rename in it, ...) for at most
/// entry-lock-delay, so that each change costs its fop on every copy and no lock and unlock of its own.
/// Only while every copy is up and namespace changes are optimistic (no pre-op or post-op): the lease
/// leaves no mark on the bricks but the lock, which goes with this client's session if it dies.
/// </summary>
/// <remarks>
/// It holds the directory's <see cref="ReplInode.Mutex"/> while open (as a write window holds its
/// file's), so a second opener waits for the first. Changes of different names go on side by side
/// under it; this client's changes of one name wait for each other (<see cref="Names"/>), as the
/// bricks' lock on the name made them do without it.
/// </remarks>
internal sealed class EntryLease(TxnTarget dir, FopContext lctx, uint locked, long epoch)
{
    /// <summary>The directory, with no name: the lock covers every name in it.</summary>
    public readonly TxnTarget Dir = dir;
    public readonly FopContext Ctx = lctx;
    public readonly uint Locked = locked;
    /// <summary>The children's up/down epoch it was taken in: a child that went down or came back since may not hold it.</summary>
    public readonly long Epoch = epoch;
    // Guarded by lock(Dir.State).
    public int Inflight;
    public bool Closing;
    /// <summary>The names being changed under it; the signal, made by the first change that has to wait, is set when that name is free.</summary>
    public readonly Dictionary<string, Signal?> Names = new(StringComparer.Ordinal);
    public Timer? Timer;
    public readonly Signal Drained = new();
    public readonly Signal Closed = new();
}

public sealed partial class ReplicateTranslator
{
    private readonly ConcurrentDictionary<EntryLease, byte> _leases = new();
    private long _entryLockDelayMs;
    private long _childEpoch;
    private long _leasesTaken, _leasedChanges;

    /// <summary>Eager entry locks taken (each: one entrylk and one unlock per copy).</summary>
    public long EntryLeases => Volatile.Read(ref _leasesTaken);
    /// <summary>Namespace changes made under an eager entry lock.</summary>
    public long LeasedEntryChanges => Volatile.Read(ref _leasedChanges);

    /// <summary>Whether an entry change of <paramref name="targets"/> on <paramref name="up"/> may go under an eager entry lock.</summary>
    private bool Leasable(TxnTarget[] targets, int kind, uint up) =>
        kind == Pending.Entry && targets.Length == 1 && targets[0].EntryName is not null && up == _allMask && _optimisticChangeLog
        && Volatile.Read(ref _entryLockDelayMs) > 0;

    /// <summary>
    /// The namespace change <paramref name="op"/> under the eager entry lock of its directory (taken if
    /// none is open); null when that lock could not be had on every copy (the caller makes a transaction of its own).
    /// </summary>
    private async ValueTask<Result<T>?> LeasedAsync<T>(FopContext ctx, TxnTarget target, Func<int, ValueTask<Result<T>>> op, Action<Result<T>[]>? seen)
    {
        var lease = await EnterLeaseAsync(ctx, target).ConfigureAwait(false);
        if (lease is null) return null;
        try
        {
            Interlocked.Increment(ref _transactions);
            Interlocked.Increment(ref _optimisticEntries);
            Interlocked.Increment(ref _leasedChanges);
            var results = await FanOutAsync(lease.Locked, op).ConfigureAwait(false);
            seen?.Invoke(results);
            uint done = Succeeded(results);
            await BlameFailedAsync(lease.Ctx, [target], Pending.Entry, done, lease.Locked & ~done).ConfigureAwait(false);
            Blame([target], done);
            return Outcome(results, lease.Locked, done);
        }
        finally { LeaveLease(lease, target.EntryName!); }
    }

    /// <summary>
    /// The open lease of <paramref name="target"/>'s directory with this change counted in, or a new one:
    /// the directory's mutex, then its entrylk on every copy. Null when it could not be had on every copy.
    /// </summary>
    private async ValueTask<EntryLease?> EnterLeaseAsync(FopContext ctx, TxnTarget target)
    {
        var st = target.State;
        var name = target.EntryName!;
        while (true)
        {
            Signal? busy = null, opening = null;
            EntryLease? stale = null;
            lock (st)
            {
                if (st.Lease is { Closing: false } l)
                {
                    if (l.Epoch != Volatile.Read(ref _childEpoch)) stale = l;
                    else if (l.Names.TryGetValue(name, out var waiters)) busy = l.Names[name] = waiters ?? new Signal();
                    else
                    {
                        l.Inflight++;
                        l.Names[name] = null; // no signal until someone waits for the name
                        return l;
                    }
                }
                // Another change is opening the next lease: wait for it and join it, rather than for the mutex, which
                // the lease holds for its whole entry-lock-delay (a change that waited for the mutex so waited that long).
                else if (st.LeaseOpening is { } o) busy = o;
                else st.LeaseOpening = opening = new Signal();
            }
            if (busy is not null) { await busy.WaitAsync(ctx.ContinueInline).WaitAsync(ctx.Cancellation).ConfigureAwait(false); continue; }
            if (stale is not null) { await CloseLeaseAsync(st, ctx.ContinueInline).ConfigureAwait(false); continue; }
            EntryLease? lease = null;
            try { lease = await OpenLeaseAsync(ctx, target, name).ConfigureAwait(false); }
            finally
            {
                lock (st) st.LeaseOpening = null;
                opening!.Set();
            }
            return lease;
        }
    }

    /// <summary>The directory's mutex, then its entrylk on every copy, as a lease with this change counted in; null when not every copy granted it.</summary>
    private async ValueTask<EntryLease?> OpenLeaseAsync(FopContext ctx, TxnTarget target, string name)
    {
        var st = target.State;
        await st.Mutex.EnterAsync(ctx.ContinueInline, ctx.Cancellation).ConfigureAwait(false);
        // Leases hold the mutex while open, so none is open now: this caller opens the next.
        long epoch = Volatile.Read(ref _childEpoch);
        var lctx = LockContext(ctx);
        var dir = target with { EntryName = null };
        uint locked = await LockAsync(lctx, [dir], Pending.Entry, _allMask).ConfigureAwait(false);
        if (locked != _allMask || UpMask != _allMask)
        {
            await UnlockAsync(lctx, [dir], Pending.Entry, locked).ConfigureAwait(false);
            st.Mutex.Release();
            return null;
        }
        Interlocked.Increment(ref _leasesTaken);
        var lease = new EntryLease(dir, lctx, locked, epoch) { Inflight = 1 };
        lease.Names[name] = null;
        lock (st) st.Lease = lease;
        _leases[lease] = 0;
        // Held at most entry-lock-delay: another client (or a heal) wanting a name in the directory waits at most that long.
        lease.Timer = new Timer(_ => _ = CloseLeaseAsync(st, lctx.ContinueInline), null, Volatile.Read(ref _entryLockDelayMs), Timeout.Infinite);
        return lease;
    }

    private static void LeaveLease(EntryLease lease, string name)
    {
        var st = lease.Dir.State;
        Signal? waiters;
        bool drained;
        lock (st)
        {
            lease.Names.Remove(name, out waiters);
            drained = --lease.Inflight == 0 && lease.Closing;
        }
        // Outside the lock: inline waiters go on here.
        waiters?.Set();
        if (drained) lease.Drained.Set();
    }

    /// <summary>
    /// Gives back the eager entry lock of the directory <paramref name="st"/>, if one is open: waits for
    /// the changes under it, unlocks every copy, then lets the next transaction have the directory. A
    /// concurrent caller waits for the same close. <paramref name="inline"/>: the caller's code never blocks (its
    /// context's ContinueInline), so its waits go on where they end (<see cref="Signal"/>).
    /// </summary>
    private async ValueTask CloseLeaseAsync(ReplInode st, bool inline)
    {
        EntryLease? l;
        bool closer = false, drained = false;
        lock (st)
        {
            l = st.Lease;
            if (l is null) return;
            if (!l.Closing)
            {
                l.Closing = true;
                closer = true;
                drained = l.Inflight == 0;
            }
        }
        if (!closer) { await l.Closed.WaitAsync(inline).ConfigureAwait(false); return; }
        if (drained) l.Drained.Set();
        try
        {
            await l.Drained.WaitAsync(inline).ConfigureAwait(false);
            l.Timer?.Dispose();
            await UnlockAsync(l.Ctx, [l.Dir], Pending.Entry, l.Locked).ConfigureAwait(false);
        }
        catch (Exception e) { Graph?.ReportError(this, "unlock failed", e); }
        finally
        {
            lock (st) st.Lease = null;
            _leases.TryRemove(l, out _);
            st.Mutex.Release();
            l.Closed.Set();
        }
    }

    /// <summary>Closes the leases of <paramref name="targets"/>: a transaction of this client's own on them must not wait for one.</summary>
    private async ValueTask CloseLeasesAsync(TxnTarget[] targets, bool inline)
    {
        foreach (var t in targets) await CloseLeaseAsync(t.State, inline).ConfigureAwait(false);
    }

    /// <summary>
    /// No eager entry lock is used again, and the open ones are given back: a child went down or came
    /// back, or a copy answered ENOTCONN while the graph counts it up (a brick cut off and not yet known
    /// to be gone), so the next namespace change locks every copy first and, without quorum, changes nothing.
    /// </summary>
    private void LoseLeases()
    {
        Interlocked.Increment(ref _childEpoch);
        if (!_leases.IsEmpty) _ = CloseAllLeasesAsync().AsTask();
    }

    /// <summary>Every open lease is given back (the graph is going down, or a child went down or came back).</summary>
    private async ValueTask CloseAllLeasesAsync()
    {
        foreach (var l in _leases.Keys) await CloseLeaseAsync(l.Dir.State, inline: false).ConfigureAwait(false);
    }
}
