using Graft.Core;

namespace Graft.Xlators.Performance.WriteBehind;

/// <summary>
/// performance/write-behind: acknowledges a write as soon as it is queued (within a per-inode
/// window of <c>cache-size</c> bytes) and writes it to the child in the background, up to
/// <c>writes-in-flight</c> at once: writes to disjoint ranges side by side, a write that overlaps
/// one in flight (and every O_APPEND write) after it, in the order they were acknowledged.
/// Small contiguous writes of one fd are coalesced up to <c>aggregate-size</c>.
/// </summary>
/// <remarks>
/// What makes early acknowledgement safe:
/// - every fop that could observe the file's data or size (reads, stat, lookup, truncate,
///   fsync, flush, fallocate, lseek, copy_file_range) first waits until the inode's queue is
///   written, so it sees the acknowledged bytes, through any fd;
/// - FLUSH (close) and fsync wait for the pending writes;
/// - a failed background write is recorded on the file's write-back error sequence
///   (<see cref="Inode.WriteBackErrors"/>), which the mount session reports on the next fsync and
///   on close of every fd open at the time: an acknowledged byte is never lost silently, and no
///   other fop (a read, a kernel's getattr) can consume the report;
/// - a teardown by force (the graph's retirement bound) records EIO on every file whose
///   acknowledged writes are still queued or in flight, and drops what is queued;
/// - O_SYNC, O_DSYNC and O_DIRECT writes are never delayed;
/// - PARENT_DOWN waits until every queue is written before it goes further down, and the
///   fsync-style barrier of fd migration waits for the same;
/// - <see cref="Translator.SettleAsync"/> (the settle contract) waits until the inode's queue is
///   written: the mount session's way to make an older graph's acknowledged bytes visible to a newer one.
/// </remarks>
public sealed partial class WriteBehindTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("performance/write-behind", () => new WriteBehindTranslator(),
    [
        new("cache-size", OptionKind.Size, "4MB", "bytes of acknowledged, not yet written data kept per file (the window)")
            { Min = 4096, Max = 1L << 30, Runtime = true, Aliases = ["window-size"] },
        new("aggregate-size", OptionKind.Size, "128KB", "largest write made by coalescing small contiguous writes of one fd")
            { Min = 4096, Max = 1L << 20, Runtime = true },
        new("writes-in-flight", OptionKind.Int, "4", "most of a file's queued writes sent below at once (writes to disjoint ranges; overlapping ones go one after the other)")
            { Min = 1, Max = 64, Runtime = true },
        new("enable", OptionKind.Bool, "on", "off makes every write go straight through") { Runtime = true },
    ], "acknowledges writes early and writes them in order in the background")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private readonly object _allSync = new();
    private readonly HashSet<WbInode> _busy = [];
    private long _window;
    private int _aggregate;
    private int _inFlightMax;
    private volatile bool _enabled = true;
    private long _bytesHeld;
    private long _failures;
    private long _writesSent;
    private long _writesBeside;
    private volatile bool _tornDown;

    /// <summary>Acknowledged bytes not yet written to the child, over all files.</summary>
    public override long BytesHeld => Interlocked.Read(ref _bytesHeld);

    /// <summary>Background writes that failed (each reported to the application later).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Background writes sent below, and those of them sent while another write of the same file was in flight.</summary>
    public long WritesSent => Interlocked.Read(ref _writesSent);
    public long WritesBesideOthers => Interlocked.Read(ref _writesBeside);

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["writesSent"] = WritesSent, ["writesBesideOthers"] = WritesBesideOthers, ["failures"] = Failures, ["bytesHeld"] = BytesHeld,
    };

    protected override void ApplyOptions(OptionValues o)
    {
        Volatile.Write(ref _window, o.GetLong("cache-size"));
        Volatile.Write(ref _aggregate, o.GetInt("aggregate-size"));
        Volatile.Write(ref _inFlightMax, o.GetInt("writes-in-flight"));
        _enabled = o.GetBool("enable");
    }

    /// <summary>
    /// The graph is being torn down (after PARENT_DOWN, or by force when its retirement bound ran
    /// out with writes still held): whatever is still queued will never be written. Each file that
    /// had acknowledged bytes queued or in flight gets EIO recorded now — before the layers below
    /// fail the held calls, and before anyone moves the file to another graph (the mount session
    /// waits for <see cref="Graph.Destroyed"/>) — so its next fsync and its close say so.
    /// </summary>
    public override ValueTask FiniAsync()
    {
        _tornDown = true;
        WbInode[] busy;
        lock (_allSync) busy = [.. _busy];
        foreach (var w in busy)
            if (w.Abandon()) RecordFailure(w.Inode, Errno.EIO);
        return ValueTask.CompletedTask;
    }

    private void RecordFailure(Inode inode, Errno err)
    {
        Interlocked.Increment(ref _failures);
        inode.WriteBackErrors.Record(err);
    }

    /// <summary>PARENT_DOWN: every queued write reaches the child before the event goes further down.</summary>
    protected override async ValueTask DrainAsync()
    {
        WbInode[] busy;
        lock (_allSync) busy = [.. _busy];
        foreach (var w in busy) await w.WaitDrainedAsync().ConfigureAwait(false);
    }

    private void MarkBusy(WbInode w, bool busy)
    {
        lock (_allSync) { if (busy) _busy.Add(w); else _busy.Remove(w); }
    }

    private WbInode State(Inode inode) => inode.GetCtx(this) as WbInode ?? inode.GetOrSetCtx(this, new WbInode(this, inode));

    /// <summary>Waits until every acknowledged write of this inode is written (no-op, no allocation when idle).
    /// <paramref name="inline"/>: the waiter's context says ContinueInline, so it may go on on the thread of the pump
    /// that finishes (no thread-pool hand-off); any other waiter goes on on the pool.</summary>
    private ValueTask LandedAsync(Inode? inode, bool inline = false)
    {
        if (inode?.GetCtx(this) is not WbInode w) return ValueTask.CompletedTask;
        var t = w.WaitDrainedAsync(inline);
        return t.IsCompleted ? ValueTask.CompletedTask : new ValueTask(t);
    }

    private ValueTask LandedAsync(FopContext ctx, Fd fd) => LandedAsync(fd.Inode, ctx.ContinueInline);

    private ValueTask LandedAsync(FopContext ctx, Loc loc) =>
        LandedAsync(loc.Inode ?? (loc.Gfid.IsZero ? null : Graph?.Inodes.Find(loc.Gfid)), ctx.ContinueInline);

    /// <summary>The settle contract (<see cref="Translator.SettleAsync"/>): this inode's queue is written, then the child settles.</summary>
    public override ValueTask SettleAsync(Inode inode)
    {
        var landed = LandedAsync(inode);
        return landed.IsCompletedSuccessfully ? FirstChild!.SettleAsync(inode) : SettleSlowAsync(landed, inode);
    }

    private async ValueTask SettleSlowAsync(ValueTask landed, Inode inode)
    {
        await landed.ConfigureAwait(false);
        await FirstChild!.SettleAsync(inode).ConfigureAwait(false);
    }

    public override void Forget(Inode inode) => inode.SetCtx(this, null);
}
