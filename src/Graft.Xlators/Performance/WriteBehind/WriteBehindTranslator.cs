using System.Buffers;
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

    // ---- per-inode queue ----

    /// <summary>One queued write. The buffer comes from the shared pool and returns to it once written.</summary>
    private sealed class Pending
    {
        public required Fd Fd;
        public required FopContext Ctx;
        public required byte[] Buffer;
        public int Length;
        public long Offset;
        public bool Append;
    }

    /// <summary>
    /// The write-behind state of one inode: a queue of acknowledged writes, sent below in queue order by up
    /// to <c>writes-in-flight</c> pumps. The queue's head goes in flight only when it overlaps no write in
    /// flight (an O_APPEND write overlaps every write: where it lands depends on the size), so two writes
    /// that touch the same bytes reach the child one after the other, in the order they were acknowledged,
    /// and writes to disjoint ranges travel side by side. Lock order: this object, never while awaiting.
    /// </summary>
    private sealed class WbInode(WriteBehindTranslator owner, Inode inode)
    {
        public Inode Inode { get; } = inode;

        private readonly Queue<Pending> _queue = new();
        private readonly List<Pending> _inFlight = [];
        private long _bytes;           // queued + in flight
        private int _pumps;            // running pumps; each has at most one write in flight
        private TaskCompletionSource? _drained;
        private TaskCompletionSource? _room;

        public bool Idle { get { lock (this) return _pumps == 0 && _queue.Count == 0; } }

        /// <summary>Queues a copy of <paramref name="data"/>; false when there is no room yet (wait and retry).</summary>
        public bool TryEnqueue(Fd fd, FopContext ctx, ReadOnlySpan<byte> data, long offset, bool append, out Task? roomFreed)
        {
            roomFreed = null;
            Pending? start = null;
            lock (this)
            {
                long window = Volatile.Read(ref owner._window);
                if (_bytes > 0 && _bytes + data.Length > window)
                {
                    _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    roomFreed = _room.Task;
                    return false;
                }
                // Coalesce into the last queued (not yet in flight) write when it continues it.
                if (_queue.Count > 0)
                {
                    var tail = _last;
                    if (tail is not null && tail.Fd == fd && tail.Append == append &&
                        (append || tail.Offset + tail.Length == offset) && tail.Length + data.Length <= tail.Buffer.Length)
                    {
                        data.CopyTo(tail.Buffer.AsSpan(tail.Length));
                        tail.Length += data.Length;
                        Account(data.Length);
                        return true;
                    }
                }
                var size = Math.Max(data.Length, Volatile.Read(ref owner._aggregate));
                // The caller's context may be reused once we acknowledge: keep a copy of who wrote.
                var snapshot = new FopContext { Uid = ctx.Uid, Gid = ctx.Gid, Groups = ctx.Groups, Pid = ctx.Pid, LockOwner = ctx.LockOwner, Graph = ctx.Graph };
                var p = new Pending { Fd = fd, Ctx = snapshot, Buffer = ArrayPool<byte>.Shared.Rent(size), Length = data.Length, Offset = offset, Append = append };
                data.CopyTo(p.Buffer);
                _queue.Enqueue(p);
                _last = p;
                Account(data.Length);
                if (_pumps == 0) owner.MarkBusy(this, true);
                // One write more at the tail can let at most one more go in flight (the head's turn comes first).
                if (_pumps < Volatile.Read(ref owner._inFlightMax) && TakeNext() is { } n)
                {
                    _pumps++;
                    start = n;
                }
            }
            // Outside the lock, and on the pool: the child may complete synchronously, and the
            // caller's write must not wait for it.
            if (start is not null) _ = Task.Run(() => PumpAsync(start));
            return true;
        }

        /// <summary>The newest queued write, while it is not yet in flight: small writes coalesce into it.</summary>
        private Pending? _last;

        private void Account(int n)
        {
            _bytes += n;
            Interlocked.Add(ref owner._bytesHeld, n);
        }

        /// <summary>
        /// Under the lock: the queue's head, now in flight, if it overlaps no write in flight; else null
        /// (the pump of the write it overlaps takes it when that write is done).
        /// </summary>
        private Pending? TakeNext()
        {
            if (!_queue.TryPeek(out var p)) return null;
            foreach (var q in _inFlight)
                if (p.Append || q.Append || (p.Offset < q.Offset + q.Length && q.Offset < p.Offset + p.Length)) return null;
            _queue.Dequeue();
            if (p == _last) _last = null;
            Interlocked.Increment(ref owner._writesSent);
            if (_inFlight.Count > 0) Interlocked.Increment(ref owner._writesBeside);
            _inFlight.Add(p);
            return p;
        }

        /// <summary>Teardown: drops the queued writes (those in flight finish); true if anything was held.</summary>
        public bool Abandon()
        {
            lock (this)
            {
                if (_pumps == 0 && _queue.Count == 0) return false;
                while (_queue.TryDequeue(out var p))
                {
                    _bytes -= p.Length;
                    Interlocked.Add(ref owner._bytesHeld, -p.Length);
                    ArrayPool<byte>.Shared.Return(p.Buffer);
                }
                _last = null;
                _room?.TrySetResult(); _room = null;
                return true;
            }
        }

        public Task WaitDrainedAsync()
        {
            lock (this)
            {
                if (_pumps == 0 && _queue.Count == 0) return Task.CompletedTask;
                _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _drained.Task;
            }
        }

        /// <summary>
        /// Writes <paramref name="p"/>, then the queue's head whenever it may go, and starts more pumps when a
        /// finished write lets more than one go. A pump stops when the queue is empty or its head waits for
        /// another pump's write: while anything is queued, some pump is running.
        /// </summary>
        private async Task PumpAsync(Pending p)
        {
            var child = owner.FirstChild!;
            // A finished write may have let several go: each new pump lets the next one start.
            StartAnother();
            while (true)
            {
                Errno err;
                try
                {
                    var r = await child.WritevAsync(p.Ctx, p.Fd, p.Buffer.AsMemory(0, p.Length), p.Offset).ConfigureAwait(false);
                    err = !r.Ok ? r.Error : r.Value != p.Length ? Errno.EIO : Errno.OK;
                }
                catch (Exception e)
                {
                    owner.Graph?.ReportError(owner, "background write threw", e);
                    err = Errno.EIO;
                }
                // After a teardown the cause below is the teardown itself: the bytes are lost (EIO).
                if (err != Errno.OK) owner.RecordFailure(Inode, owner._tornDown ? Errno.EIO : err);
                ArrayPool<byte>.Shared.Return(p.Buffer);
                lock (this)
                {
                    _inFlight.Remove(p);
                    _bytes -= p.Length;
                    Interlocked.Add(ref owner._bytesHeld, -p.Length);
                    _room?.TrySetResult(); _room = null;
                    var next = TakeNext();
                    if (next is null)
                    {
                        if (--_pumps == 0)
                        {
                            _last = null;
                            owner.MarkBusy(this, false);
                            _drained?.TrySetResult(); _drained = null;
                        }
                        return;
                    }
                    p = next;
                }
                StartAnother();
            }
        }

        /// <summary>Starts one more pump if the queue's head may go in flight beside those running.</summary>
        private void StartAnother()
        {
            Pending? more = null;
            lock (this)
            {
                if (_pumps < Volatile.Read(ref owner._inFlightMax) && TakeNext() is { } n)
                {
                    _pumps++;
                    more = n;
                }
            }
            if (more is not null) _ = Task.Run(() => PumpAsync(more));
        }
    }

    private void MarkBusy(WbInode w, bool busy)
    {
        lock (_allSync) { if (busy) _busy.Add(w); else _busy.Remove(w); }
    }

    private WbInode State(Inode inode) => inode.GetCtx(this) as WbInode ?? inode.GetOrSetCtx(this, new WbInode(this, inode));

    /// <summary>Waits until every acknowledged write of this inode is written (no-op, no allocation when idle).</summary>
    private ValueTask LandedAsync(Inode? inode)
    {
        if (inode?.GetCtx(this) is not WbInode w) return ValueTask.CompletedTask;
        var t = w.WaitDrainedAsync();
        return t.IsCompleted ? ValueTask.CompletedTask : new ValueTask(t);
    }

    private ValueTask LandedAsync(Loc loc) =>
        LandedAsync(loc.Inode ?? (loc.Gfid.IsZero ? null : Graph?.Inodes.Find(loc.Gfid)));

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
