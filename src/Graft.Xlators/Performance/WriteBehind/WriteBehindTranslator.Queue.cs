using System.Buffers;
using Graft.Core;

namespace Graft.Xlators.Performance.WriteBehind;

// The per-inode queue and its pumps. What it costs in thread hand-offs (docs/performance.md, write-behind):
// - a pump starts on the thread that makes it possible (the writer's, or the thread a reply arrived on), not
//   through the thread pool; the child's write is sent before the writer's acknowledgement goes back;
// - the pump's context says ContinueInline when the writer's does (its own code never blocks), so after a reply the
//   pump goes on where the reply arrived (protocol/client's receive thread) and sends the next write from there;
// - the room and drained signals wake a waiter whose own context says ContinueInline (the FUSE bridge's) on the
//   pump's thread, after the lock is let go; any other waiter (a library caller, PARENT_DOWN, settle, release)
//   still continues on the thread pool, as its code is unknown;
// - a big write from a front end that lends its buffer (FopContext.Payload) is kept in that buffer, not copied.
public sealed partial class WriteBehindTranslator
{
    /// <summary>
    /// One queued write: its data either in a buffer rented from the shared pool (a copy, into which later small
    /// writes may coalesce) or in the front end's own buffer, lent until the write is done (<see cref="IPayloadLender"/>).
    /// Reused: each inode keeps a few for its next writes, so a steady stream of writes allocates none.
    /// </summary>
    private sealed class Pending
    {
        public Fd Fd = null!;
        /// <summary>Who wrote (the caller's context may be reused once we acknowledge).</summary>
        public readonly FopContext Ctx = new();
        public byte[]? Buffer;
        public IPayloadLender? Lender;
        public ReadOnlyMemory<byte> Lent;
        public int Length;
        public long Offset;
        public bool Append;

        public ReadOnlyMemory<byte> Data => Lender is not null ? Lent : Buffer.AsMemory(0, Length);

        /// <summary>Bytes a contiguous small write may still add: none to a lent buffer (it is the front end's).</summary>
        public int Room => Buffer is null ? 0 : Buffer.Length - Length;

        public void Fill(Fd fd, FopContext ctx, long offset, bool append)
        {
            Fd = fd;
            Ctx.Uid = ctx.Uid; Ctx.Gid = ctx.Gid; Ctx.Groups = ctx.Groups; Ctx.Pid = ctx.Pid; Ctx.LockOwner = ctx.LockOwner; Ctx.Graph = ctx.Graph;
            Ctx.PostParent = null;
            // The pump's own code never blocks, so it may go on where the child's reply arrives: when the writer's
            // may (the FUSE bridge's). Not otherwise: layers below keep the context for later work that other fops
            // of the same front end await (replicate's write window), and a library caller's code is unknown.
            Ctx.ContinueInline = ctx.ContinueInline;
            Offset = offset;
            Append = append;
        }

        /// <summary>The data's buffer goes back where it came from: the shared pool, or the front end that lent it.</summary>
        public void ReleaseData()
        {
            if (Lender is { } l)
            {
                Lender = null;
                Lent = default;
                l.GiveBack();
            }
            else if (Buffer is { } b)
            {
                Buffer = null;
                ArrayPool<byte>.Shared.Return(b);
            }
            Fd = null!;
        }
    }

    /// <summary>
    /// The write-behind state of one inode: a queue of acknowledged writes, sent below in queue order by up
    /// to <c>writes-in-flight</c> pumps. The queue's head goes in flight only when it overlaps no write in
    /// flight (an O_APPEND write overlaps every write: where it lands depends on the size), so two writes
    /// that touch the same bytes reach the child one after the other, in the order they were acknowledged,
    /// and writes to disjoint ranges travel side by side. Lock order: this object, never while awaiting,
    /// and no waiter's code runs under it (signals are completed after it is let go).
    /// </summary>
    /// <remarks>
    /// Invariant: while anything is queued, some pump is counted in <see cref="_pumps"/>, and a pump is counted in
    /// the same hold of the lock that takes its first write off the queue. <see cref="Abandon"/> (teardown) relies on
    /// it: it sees a pump that exists but has not run yet as running, so that pump's end — not Abandon — clears the
    /// inode's busy mark and completes the drain waiters, and no moment exists with writes queued and nobody to end them.
    /// </remarks>
    private sealed class WbInode(WriteBehindTranslator owner, Inode inode)
    {
        public Inode Inode { get; } = inode;

        private readonly Queue<Pending> _queue = new();
        private readonly List<Pending> _inFlight = [];
        private readonly Stack<Pending> _spare = new();
        private const int SpareMax = 8;
        private long _bytes;           // queued + in flight
        private int _pumps;            // running pumps; each has at most one write in flight
        // Each signal's waiters go on on the pump's thread when their context says ContinueInline, else on the pool.
        private SplitWaiters _drained, _room;
        /// <summary>The newest queued write, while it is not yet in flight: small writes coalesce into it.</summary>
        private Pending? _last;

        public bool Idle { get { lock (this) return _pumps == 0 && _queue.Count == 0; } }

        /// <summary>
        /// Queues <paramref name="data"/> (in the caller's lent buffer when it lends it, else a copy); false when there is
        /// no room yet (wait for <paramref name="roomFreed"/> and retry). A pump it makes possible starts on this thread.
        /// </summary>
        public bool TryEnqueue(Fd fd, FopContext ctx, ReadOnlyMemory<byte> data, long offset, bool append, out Task? roomFreed)
        {
            roomFreed = null;
            Pending? start = null;
            lock (this)
            {
                long window = Volatile.Read(ref owner._window);
                if (_bytes > 0 && _bytes + data.Length > window)
                {
                    roomFreed = _room.Wait(ctx.ContinueInline);
                    return false;
                }
                // Coalesce into the last queued (not yet in flight) write when it continues it.
                if (_queue.Count > 0)
                {
                    var tail = _last;
                    if (tail is not null && tail.Fd == fd && tail.Append == append &&
                        (append || tail.Offset + tail.Length == offset) && data.Length <= tail.Room)
                    {
                        data.Span.CopyTo(tail.Buffer.AsSpan(tail.Length));
                        tail.Length += data.Length;
                        Account(data.Length);
                        return true;
                    }
                }
                var p = _spare.TryPop(out var reused) ? reused : new Pending();
                p.Fill(fd, ctx, offset, append);
                p.Length = data.Length;
                if (ctx.Payload is { } lender && lender.TryLend(data.Span))
                {
                    p.Lender = lender;
                    p.Lent = data;
                }
                else
                {
                    p.Buffer = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, Volatile.Read(ref owner._aggregate)));
                    data.Span.CopyTo(p.Buffer);
                }
                _queue.Enqueue(p);
                _last = p;
                Account(data.Length);
                if (_pumps == 0) owner.MarkBusy(this, true);
                // One write more at the tail can let at most one more go in flight (the head's turn comes first).
                // Counted here, under the lock that queued it (the invariant above); it runs just below.
                if (_pumps < Volatile.Read(ref owner._inFlightMax) && TakeNext() is { } n)
                {
                    _pumps++;
                    start = n;
                }
            }
            // On this thread: the write is sent before the writer is acknowledged, and no pool thread is woken for it.
            // A child that answers at once does not keep the writer: the pump then goes on on the pool (PumpAsync).
            if (start is not null) _ = PumpAsync(start, onCallersThread: true);
            return true;
        }

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
            SplitWaiters.Fired room;
            lock (this)
            {
                if (_pumps == 0 && _queue.Count == 0) return false;
                while (_queue.TryDequeue(out var p))
                {
                    _bytes -= p.Length;
                    Interlocked.Add(ref owner._bytesHeld, -p.Length);
                    p.ReleaseData();
                }
                _last = null;
                room = _room.Take();
            }
            // A pump is still counted (the queue was not empty, or a write is in flight): its end clears the busy
            // mark and completes the drain waiters.
            room.Complete();
            return true;
        }

        /// <summary>Completes once the queue is written. <paramref name="inline"/>: the waiter's code never blocks, so it
        /// may continue on the thread of the pump that finishes (the waiter's <see cref="FopContext.ContinueInline"/>).</summary>
        public Task WaitDrainedAsync(bool inline = false)
        {
            lock (this)
            {
                if (_pumps == 0 && _queue.Count == 0) return Task.CompletedTask;
                return _drained.Wait(inline);
            }
        }

        /// <summary>
        /// Writes <paramref name="p"/>, then the queue's head whenever it may go, and starts more pumps when a
        /// finished write lets more than one go. A pump stops when the queue is empty or its head waits for
        /// another pump's write: while anything is queued, some pump is running.
        /// <paramref name="onCallersThread"/>: started by a writer (or by a pump still on one); once the child has
        /// answered at once and more is to be written, the rest goes on on the pool, never holding that thread.
        /// </summary>
        private async Task PumpAsync(Pending p, bool onCallersThread)
        {
            var child = owner.FirstChild!;
            while (true)
            {
                Errno err;
                ValueTask<Result<int>> sent;
                try { sent = child.WritevAsync(p.Ctx, p.Fd, p.Data, p.Offset); }
                catch (Exception e)
                {
                    owner.Graph?.ReportError(owner, "background write threw", e);
                    sent = new(Errno.EIO);
                }
                // The reply will come on another thread: this one is free for the caller again.
                if (!sent.IsCompleted) onCallersThread = false;
                // Sent: a write the head may now go beside leaves at once, on this thread (each new pump starts the next).
                StartAnother(onCallersThread);
                try
                {
                    var r = await sent.ConfigureAwait(false);
                    err = !r.Ok ? r.Error : r.Value != p.Length ? Errno.EIO : Errno.OK;
                }
                catch (Exception e)
                {
                    owner.Graph?.ReportError(owner, "background write threw", e);
                    err = Errno.EIO;
                }
                // After a teardown the cause below is the teardown itself: the bytes are lost (EIO).
                if (err != Errno.OK) owner.RecordFailure(Inode, owner._tornDown ? Errno.EIO : err);
                p.ReleaseData();
                Pending? next;
                SplitWaiters.Fired room, drained = default;
                lock (this)
                {
                    _inFlight.Remove(p);
                    if (_spare.Count < SpareMax) _spare.Push(p);
                    _bytes -= p.Length;
                    Interlocked.Add(ref owner._bytesHeld, -p.Length);
                    room = _room.Take();
                    next = TakeNext();
                    if (next is null && --_pumps == 0)
                    {
                        _last = null;
                        owner.MarkBusy(this, false);
                        drained = _drained.Take();
                    }
                }
                // Outside the lock: an inline waiter (a writer waiting for room, a FLUSH) runs right here.
                room.Complete();
                drained.Complete();
                if (next is null) return;
                p = next;
                if (onCallersThread)
                {
                    // The child answered at once (a local leaf): what is left is not the writer's to wait for.
                    onCallersThread = false;
                    await Task.Yield();
                }
            }
        }

        /// <summary>Starts one more pump, on this thread, if the queue's head may go in flight beside those running.</summary>
        private void StartAnother(bool onCallersThread)
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
            if (more is not null) _ = PumpAsync(more, onCallersThread);
        }
    }
}
