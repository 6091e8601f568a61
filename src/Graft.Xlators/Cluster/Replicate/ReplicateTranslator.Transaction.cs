using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>What replicate keeps on an inode: which copies need heal, and the state of its transactions here.</summary>
internal sealed class ReplInode
{
    /// <summary>
    /// Serialises this client's transactions on the object (the bricks' inodelk/entrylk serialise
    /// clients): an open write window holds it from its pre-op to its post-op, an eager entry lock while it is open.
    /// A waiter goes on where it is let go when its context allows (<see cref="TxnMutex"/>).
    /// </summary>
    public readonly TxnMutex Mutex = new();
    /// <summary>Copies known to need heal (a change missed them, or their counters say so): never read from.</summary>
    public uint Bad;
    /// <summary>Copies blame each other and none is clear: reads and opens answer EIO until it is resolved.</summary>
    public volatile bool SplitBrain;
    /// <summary>The copies' counters were read at least once (or the object was made here, clean).</summary>
    public volatile bool Judged;
    /// <summary>The open window of consecutive writes (eager lock, delayed post-op), guarded by lock(this).</summary>
    public WriteWindow? Window;
    /// <summary>A directory's open eager entry lock, guarded by lock(this).</summary>
    public EntryLease? Lease;
    /// <summary>Set when the change opening the directory's next eager entry lock has it open (or failed to), guarded by lock(this).</summary>
    public Signal? LeaseOpening;
    /// <summary>Set when the write opening the next window has it open (or failed to), guarded by lock(this).</summary>
    public Signal? Opening;

    public void Blame(uint children) { uint b; do b = Volatile.Read(ref Bad); while (Interlocked.CompareExchange(ref Bad, b | children, b) != b); }
    public void Clear(uint children) { uint b; do b = Volatile.Read(ref Bad); while (Interlocked.CompareExchange(ref Bad, b & ~children, b) != b); }
}

/// <summary>One object a transaction changes: where its counters live and its state here.</summary>
internal readonly record struct TxnTarget(Loc Loc, ReplInode State, string? EntryName);

// A transaction: quorum check, this client's mutex on the object, the bricks' lock in this
// translator's domain, pre-op (every copy counts the change as pending for every child), the fop on
// every child that is up, post-op (each copy takes the count off for the children where the fop
// succeeded), unlock. A child that was down, failed the pre-op or failed the fop keeps its count on
// the others: it is blamed there until a heal. The fop is acknowledged only when quorum children did it.
public sealed partial class ReplicateTranslator
{
    internal ReplInode StateOf(Inode inode)
    {
        if (inode.GetCtx(this) is ReplInode s) return s;
        _fresh.TryRemove(inode.Gfid, out var judged);
        return inode.GetOrSetCtx(this, judged ?? new ReplInode());
    }

    /// <summary>The state of the object <paramref name="loc"/> names (a fresh one, not kept, when the graph has no inode for it).</summary>
    private ReplInode StateOf(in Loc loc, bool parent = false)
    {
        var inode = parent ? loc.Parent ?? Graph?.Inodes.Find(loc.ParentGfid) : loc.Inode ?? Graph?.Inodes.Find(loc.Gfid);
        return inode is null ? new ReplInode() : StateOf(inode);
    }

    private TxnTarget ObjectTarget(in Loc loc) => new(loc.Inode is { } i ? Loc.Of(i) : Loc.Nameless(loc.Gfid), StateOf(loc), null);

    private TxnTarget ParentTarget(in Loc loc) =>
        new(loc.Parent is { } p ? Loc.Of(p) : Loc.Nameless(loc.ParentGfid), StateOf(loc, parent: true), loc.Name);

    /// <summary>A change of kind <paramref name="kind"/> to one object, on the children in <paramref name="on"/> that are up.</summary>
    private ValueTask<Result<T>> TransactAsync<T>(FopContext ctx, TxnTarget target, int kind, uint on, Func<int, ValueTask<Result<T>>> op) =>
        TransactAsync(ctx, [target], kind, on, op);

    /// <summary>As above, for several objects at once (rename: both parents), locked in GFID order.</summary>
    /// <param name="seen">given each child's own answer, when the fop was sent.</param>
    /// <remarks>
    /// Entry transactions take no mutex here: the bricks' entrylk is on the name, so changes of
    /// different names of one directory go on side by side, and no write window lives on a directory.
    /// The unlock (and the mutex) is given back after the caller has its answer: it waits for the
    /// post-op, never for the unlock; this client's next transaction on the object waits for the mutex.
    /// </remarks>
    private async ValueTask<Result<T>> TransactAsync<T>(FopContext ctx, TxnTarget[] targets, int kind, uint on, Func<int, ValueTask<Result<T>>> op,
                                                        Action<Result<T>[]>? seen = null)
    {
        uint up = on & UpMask;
        if (!HasQuorum(up)) { Interlocked.Increment(ref _quorumRefusals); return Errno.EROFS; }
        if (targets.Length > 1) Array.Sort(targets, (a, b) => a.Loc.Gfid.CompareTo(b.Loc.Gfid));
        bool local = kind != Pending.Entry;
        var taken = 0;
        FopContext? tctx = null;
        uint locked = 0;
        try
        {
            if (Leasable(targets, kind, up) && await LeasedAsync(ctx, targets[0], op, seen).ConfigureAwait(false) is { } leased) return leased;
            // This client's own lock on the objects must not wait for its eager entry lock there.
            await CloseLeasesAsync(targets, ctx.ContinueInline).ConfigureAwait(false);
            Interlocked.Increment(ref _transactions);
            if (local)
                foreach (var t in targets)
                {
                    // A write window on the object would hold the mutex for up to post-op-delay: end it now.
                    await CloseWindowAsync(t.State, ctx.ContinueInline).ConfigureAwait(false);
                    await t.State.Mutex.EnterAsync(ctx.ContinueInline, ctx.Cancellation).ConfigureAwait(false);
                    taken++;
                }
            tctx = LockContext(ctx);
            bool optimistic = false;
            uint armed;
            if (local && targets.Length == 1) (locked, armed) = await LockAndPreOpAsync(tctx, targets, kind, up).ConfigureAwait(false);
            else
            {
                locked = await LockAsync(tctx, targets, kind, up).ConfigureAwait(false);
                optimistic = kind == Pending.Entry && locked == _allMask && _optimisticChangeLog;
                armed = optimistic ? locked : await PreOpAsync(tctx, targets, kind, locked).ConfigureAwait(false);
            }
            if (!HasQuorum(armed)) { Interlocked.Increment(ref _quorumRefusals); await PostOpAsync(tctx, targets, kind, armed, 0).ConfigureAwait(false); return Errno.EROFS; }
            var results = await FanOutAsync(armed, op).ConfigureAwait(false);
            seen?.Invoke(results);
            uint done = Succeeded(results);
            if (optimistic)
            {
                Interlocked.Increment(ref _optimisticEntries);
                await BlameFailedAsync(tctx, targets, kind, done, armed & ~done).ConfigureAwait(false);
            }
            else (locked, _) = await PostOpUnlockingAsync(tctx, targets, kind, armed, done, locked).ConfigureAwait(false);
            Blame(targets, done);
            return Outcome(results, armed, done);
        }
        catch (OperationCanceledException) { return Errno.EINTR; }
        finally
        {
            if (tctx is not null || taken > 0) _ = FinishAsync(tctx, targets, kind, locked, taken);
        }
    }

    /// <summary>Unlocks on the bricks, then lets this client's next transaction on the objects have them.</summary>
    private async Task FinishAsync(FopContext? lctx, TxnTarget[] targets, int kind, uint locked, int taken)
    {
        try { if (lctx is not null) await UnlockAsync(lctx, targets, kind, locked).ConfigureAwait(false); }
        catch (Exception e) { Graph?.ReportError(this, "unlock failed", e); }
        finally { for (int k = 0; k < taken; k++) targets[k].State.Mutex.Release(); }
    }

    /// <summary>What the caller hears: the change if quorum children made it; else their common error, or EROFS when some made it and too few.</summary>
    private Result<T> Outcome<T>(Result<T>[] results, uint tried, uint done)
    {
        if (done != 0 && HasQuorum(done)) return FirstOk(results, done);
        if (done == 0) return FirstOk(results, tried);
        Interlocked.Increment(ref _quorumRefusals);
        return Errno.EROFS;
    }

    /// <summary>Every child not in <paramref name="done"/> now needs heal of the targets (it missed the change).</summary>
    private void Blame(TxnTarget[] targets, uint done)
    {
        uint missed = _allMask & ~done;
        if (missed == 0) return;
        Interlocked.Add(ref _blamed, BitOperations.PopCount(missed));
        foreach (var t in targets) t.State.Blame(missed);
    }

    /// <summary>
    /// Pre-op: on every copy in <paramref name="on"/>, +1 on counter <paramref name="kind"/> for
    /// the copy itself (it is in the middle of a change) and for every child not in the
    /// transaction (it misses the change; its count is never taken off). One xattrop per copy
    /// while every child takes part. A copy the pre-op missed is left out, and blamed at once on
    /// the others, so that a client dying before the post-op never leaves it looking good.
    /// Returns the children where every target's pre-op landed.
    /// </summary>
    /// <remarks>
    /// Counting only itself on each copy (not every child, as before) judges the same after a
    /// crash: each copy the change reached blames itself, so none of them is a source (the
    /// biggest is chosen when all do), and a copy it never reached is blamed by the others — and
    /// it costs a third of the xattrops on three copies (GlusterFS's dirty counter does the same).
    /// </remarks>
    private async ValueTask<uint> PreOpAsync(FopContext tctx, TxnTarget[] targets, int kind, uint on)
    {
        Interlocked.Increment(ref _preOps);
        uint armed = on, absent = _allMask & ~on;
        var delta = Pending.Delta(kind, 1);
        foreach (var t in targets)
        {
            var r = await FanOutAsync(on, i => AddToAllAsync(tctx, i, t.Loc, delta, (1u << i) | absent)).ConfigureAwait(false);
            armed &= Succeeded(r);
        }
        return armed == on ? armed : await LeaveOutAsync(tctx, targets, kind, on, armed).ConfigureAwait(false);
    }

    /// <summary>
    /// The copies in <paramref name="on"/> but not <paramref name="armed"/> missed the pre-op: they are
    /// left out, and blamed at once on the armed ones. Returns those where the blame landed too.
    /// </summary>
    private async ValueTask<uint> LeaveOutAsync(FopContext tctx, TxnTarget[] targets, int kind, uint on, uint armed)
    {
        uint missed = on & ~armed;
        LogPreOpFailed(_log, Name, targets[0].Loc.ToString(), ChildNames(missed));
        var delta = Pending.Delta(kind, 1);
        foreach (var t in targets)
        {
            var r = await FanOutAsync(armed, i => AddToAllAsync(tctx, i, t.Loc, delta, missed)).ConfigureAwait(false);
            armed &= Succeeded(r);
        }
        return armed;
    }

    /// <summary>
    /// Post-op: on every copy in <paramref name="armed"/>, +1 for each child that failed the fop
    /// (in <paramref name="armed"/>, not in <paramref name="done"/>: blamed from now on), then −1
    /// for the copy itself where it did it. Blame first: a copy that clears itself has said who missed the change.
    /// </summary>
    private async ValueTask PostOpAsync(FopContext tctx, TxnTarget[] targets, int kind, uint armed, uint done)
    {
        if (done == 0 || armed == 0) return;
        Interlocked.Increment(ref _postOps);
        uint failed = armed & ~done;
        foreach (var t in targets)
        {
            if (failed != 0)
            {
                var blame = Pending.Delta(kind, 1);
                await FanOutAsync(armed, i => AddToAllAsync(tctx, i, t.Loc, blame, failed & ~(1u << i))).ConfigureAwait(false);
            }
            var clear = Pending.Delta(kind, -1);
            await FanOutAsync(armed & done, i => AddToAllAsync(tctx, i, t.Loc, clear, 1u << i)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The post-op, then the unlock. For a data or metadata change of one object that every armed copy
    /// made, each copy's post-op is one add, and it goes with that copy's unlock as one request where
    /// the brick has inodelk-xattrop — and with the release of <paramref name="release"/> on the copies in
    /// <paramref name="opened"/> where the brick has release-inodelk-xattrop: those copies are unlocked when
    /// this returns. Returns the copies still locked, to be unlocked after the caller has its answer, and
    /// those whose fd was released.
    /// </summary>
    private async ValueTask<(uint Locked, uint Released)> PostOpUnlockingAsync(FopContext tctx, TxnTarget[] targets, int kind, uint armed, uint done, uint locked,
                                                                               Fd? release = null, uint opened = 0)
    {
        if (targets.Length != 1 || kind == Pending.Entry || done == 0 || done != armed)
        {
            await PostOpAsync(tctx, targets, kind, armed, done).ConfigureAwait(false);
            return (locked, 0);
        }
        Interlocked.Increment(ref _postOps);
        var clear = Pending.Delta(kind, -1);
        var t = targets[0];
        var r = await FanOutAsync(done & locked, async i =>
            new Result<PostOpDone>(await AddUnlockReleaseAsync(tctx, i, t, kind, clear, (opened & (1u << i)) != 0 ? release : null).ConfigureAwait(false))).ConfigureAwait(false);
        uint released = 0;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] is not { Ok: true } ri || ri.Value == PostOpDone.AddedOnly) continue;
            locked &= ~(1u << i);
            if (ri.Value == PostOpDone.Released) released |= 1u << i;
        }
        return (locked, released);
    }

    /// <summary>
    /// After an entry change made without pre-op (optimistic-change-log: every copy was up and
    /// locked): the copies in <paramref name="done"/> blame those in <paramref name="failed"/>.
    /// Nothing to write when every copy made it, which is the point.
    /// </summary>
    private async ValueTask BlameFailedAsync(FopContext tctx, TxnTarget[] targets, int kind, uint done, uint failed)
    {
        if (done == 0 || failed == 0) return;
        var blame = Pending.Delta(kind, 1);
        foreach (var t in targets)
            await FanOutAsync(done, i => AddToAllAsync(tctx, i, t.Loc, blame, failed)).ConfigureAwait(false);
    }

    /// <summary>Adds <paramref name="delta"/> on child <paramref name="child"/>'s copy to the counters of every child in <paramref name="of"/>, at once.</summary>
    private async ValueTask<Result<bool>> AddToAllAsync(FopContext tctx, int child, Loc loc, byte[] delta, uint of)
    {
        var calls = new List<ValueTask<Result<byte[]>>>(Children.Count);
        for (int j = 0; j < Children.Count; j++)
            if ((of & (1u << j)) != 0) calls.Add(Children[child].XattropAsync(tctx, loc, _pendingNames[j], delta));
        Errno first = Errno.OK;
        foreach (var c in calls)
        {
            var r = await c.ConfigureAwait(false);
            if (!r.Ok && first == Errno.OK) first = r.Error;
        }
        return first == Errno.OK ? true : first;
    }

    private string ChildNames(uint mask) => string.Join(", ", Enumerable.Range(0, Children.Count).Where(i => (mask & (1u << i)) != 0).Select(i => Children[i].Name));

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: pre-op on {Object} failed on {Children}; they are left out of the change and blamed for it")]
    private static partial void LogPreOpFailed(ILogger log, string name, string @object, string children);
}
