using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// One TCP connection carrying frames, shared by protocol/client and protocol/server. Receiving
/// goes through a <see cref="PipeReader"/> the owner drains. Sending: when nothing is queued, a
/// writer hands its frame to the socket itself with one non-blocking send under
/// <see cref="SendLock"/> (no thread hand-off on the request/reply path); a frame with a big bulk
/// payload (a 1 MiB writev or readv reply) leaves in one gather send straight from the caller's memory,
/// not copied. Whatever the socket does not take at once, and every frame behind it, goes through a
/// pipe with no back-pressure threshold that one send loop moves to the socket (Kestrel's shape);
/// when the socket is full it waits for room in <see cref="SocketReadiness"/>, not in .NET's socket
/// engine. Writers never wait.
/// </summary>
/// <remarks>
/// Receiving on plaintext connections: a thread of the connection's own blocks in the socket (poll,
/// then recv) and pushes what it gets into a pipe whose reader runs inline, so the owner's receive
/// loop runs on that thread when bytes arrive — one thread wake per burst of frames; the rest of a big
/// frame is asked for in one receive. The .NET socket engine would instead wake its epoll thread, which
/// hands each completion to a pool thread: two wakes, each a futex hand-off (docs/fuse-benchmark.md,
/// "session 7") — and it does so for every packet of a socket it has ever seen, so a plaintext socket
/// here never makes an async call (connect, TLS sniff and full send buffers wait in
/// <see cref="SocketReadiness"/>). With
/// <c>receiveThread: false</c> the same pipe is filled by async receives on the thread pool.
/// Over TLS the same frames go through an <see cref="SslStream"/> instead: every frame is queued and
/// the send loop writes it to the stream (an SslStream takes one writer at a time, and its writes
/// cannot be made non-blocking the way a socket send can), and the receive pipe reads the decrypted
/// stream. The plaintext path is untouched.
/// </remarks>
public sealed partial class FrameConnection
{
    private readonly Socket _socket;
    /// <summary>The TLS stream frames travel through, or null on a plaintext connection.</summary>
    private readonly SslStream? _tls;
    private readonly Pipe _out = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: 64 << 10, useSynchronizationContext: false));
    /// <summary>Small batches spanning several pipe segments are gathered here so they leave in one send.</summary>
    private readonly byte[] _gather = new byte[64 << 10];
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _sendClosed;   // guarded by SendLock: no more frames are accepted
    private bool _writerDone;   // guarded by SendLock: the send pipe's writer is completed
    /// <summary>
    /// Guarded by SendLock: bytes were queued in the send pipe and the send loop has not put all of
    /// them on the socket yet. While set, frames queue behind them (never sent directly), so the
    /// byte order on the wire is the order of <see cref="WriteFrameLocked"/> calls.
    /// </summary>
    private bool _queued;
    /// <summary>Frames up to this size are sent directly from here (header and body in one send); larger ones
    /// whose header and body fit are sent with their bulk gathered (<see cref="SendGathered"/>); the rest queue.</summary>
    private readonly byte[] _direct = new byte[HeldMax + DirectMax];
    private const int DirectMax = (64 << 10) + 1024;
    /// <summary>
    /// Guarded by SendLock: small frames held back (<see cref="HoldFrameLocked"/>) that leave in front of the next frame
    /// written, in the same send, or at <see cref="FlushHeldLocked"/>.
    /// </summary>
    private readonly byte[] _held = new byte[HeldMax];
    private int _heldLen;
    private const int HeldMax = 4 << 10;
    /// <summary>The socket's descriptor for gather sends; used only under SendLock before <see cref="_sendClosed"/>, which Close sets before it disposes the socket.</summary>
    private readonly int _fd = -1;
    /// <summary>Bytes queued but not yet handed to the socket.</summary>
    private long _unsent;
    /// <summary>
    /// A peer that stops reading while we keep answering would make the send pipe grow without
    /// bound; past this many unsent bytes the connection is closed instead.
    /// </summary>
    public const long MaxUnsent = 64L << 20;

    public FrameConnection(Socket socket) : this(socket, null) { }

    /// <param name="tls">The authenticated TLS stream over <paramref name="socket"/>, or null for plaintext.</param>
    /// <param name="receiveThread">Plaintext only: receive on a thread of this connection's own (see the remarks); false: on the thread pool.</param>
    /// <param name="keepBigBodies">Plaintext with a receive thread only: build the receive pipe of <see cref="ReceiveBuffer"/>s and
    /// receive each big frame (<see cref="KeepMin"/>) into one of them whole, so the owner may keep its body where it arrived
    /// (<see cref="ReceiveBuffer.TryHold"/>) instead of copying it out (the brick's writes).</param>
    public FrameConnection(Socket socket, SslStream? tls, bool receiveThread = true, bool keepBigBodies = false)
        : this(socket, tls, receiveThread, keepBigBodies, null) { }

    /// <param name="writeSplice">With <paramref name="keepBigBodies"/> on a plaintext connection: big writes' data is
    /// spliced from the socket into pipes (FrameConnection.WriteSplice.cs); null: never.</param>
    internal FrameConnection(Socket socket, SslStream? tls, bool receiveThread, bool keepBigBodies, WriteSplicing? writeSplice)
    {
        _socket = socket;
        _tls = tls;
        Tune(socket);
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        if (tls is not null)
        {
            Input = PipeReader.Create(tls, new StreamPipeReaderOptions(bufferSize: 256 << 10, minimumReadSize: 64 << 10));
        }
        else
        {
            // Synchronous sends must never block a writer holding SendLock: they report WouldBlock and
            // the rest queues. The receive side polls before it receives. (Over TLS nothing is sent
            // directly, and the TLS stream's own NetworkStream wants a blocking socket.)
            _socket.Blocking = false;
            if (SocketGather.Supported) _fd = (int)_socket.SafeHandle.DangerousGetHandle();
            if (SocketReadiness.Supported) _sendWait = new SocketReadiness.Waiter();
            _keepBig = keepBigBodies && receiveThread;
            if (_keepBig && _fd >= 0 && SplicePipe.Supported) _writeSplice = writeSplice;
            _in = new Pipe(new PipeOptions(pool: _keepBig ? ReceiveBufferPool.Process : null,
                                           pauseWriterThreshold: ReceiveAhead, resumeWriterThreshold: ReceiveAhead / 2,
                                           minimumSegmentSize: ReceiveChunk, readerScheduler: PipeScheduler.Inline,
                                           writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
            Input = _in.Reader;
            StartReceiving(receiveThread);
        }
        _ = SendLoopAsync();
    }

    /// <summary>The plaintext receive pipe (null over TLS): filled by <see cref="ReceiveThread"/> or <see cref="ReceiveLoopAsync"/>.</summary>
    private readonly Pipe? _in;
    private const int ReceiveChunk = 64 << 10;
    /// <summary>keepBigBodies: the receive thread keeps each frame of at least this many bytes (length field included) in one buffer.</summary>
    public const int KeepMin = 128 << 10;
    private readonly bool _keepBig;
    /// <summary>Bytes received ahead of the owner's loop before receiving stops (TCP then pushes back): room for a few of the largest frames, which must fit whole.</summary>
    private const int ReceiveAhead = 4 * (FrameHeader.MaxBody + 4096);

    private void StartReceiving(bool ownThread)
    {
        if (ownThread)
        {
            try
            {
                new Thread(ReceiveThread) { IsBackground = true, Name = "graft-recv" }.Start();
                return;
            }
            catch (OutOfMemoryException) { }   // no thread to be had (the runtime's report of a failed pthread_create): the pool receives
        }
        _ = ReceiveLoopAsync();
    }

    /// <summary>
    /// Receives until the peer closes or the connection is closed here. Blocks in poll(2) while
    /// nothing is there; a pipe flush runs the owner's receive loop inline, on this thread, and waits
    /// (back-pressure) only when the loop has left <see cref="ReceiveAhead"/> bytes unread.
    /// </summary>
    private void ReceiveThread()
    {
        var w = _in!.Writer;
        Exception? error = null;
        try
        {
            var frames = new FrameBoundary();
            bool drained = false, spliced = false;
            while (true)
            {
                // The rest of a big frame (a 1 MiB write) in one receive where it has arrived, not in 64 KiB pieces. A frame
                // kept whole (keepBigBodies) asks for exactly its rest: its buffer has that room, so it stays in one piece.
                var into = w.GetMemory(_keepBig && frames.Total >= KeepMin ? frames.Left : Math.Max(ReceiveChunk, frames.Left));
                // After a spliced write, likely another: its header and fields, not 64 KiB of its data (copied) in front of the splice.
                if (spliced && frames.Left == 0 && into.Length > SpliceHead) into = into[..SpliceHead];
                int n = ReceiveBlocking(into.Span, drained);
                if (n == 0) break;
                // Less than asked: the socket had no more at that moment, so the next receive would find nothing; it
                // waits for readiness first instead (a request or reply wake then costs a poll and one receive, not a
                // receive that fails with EAGAIN besides).
                drained = n < into.Length;
                frames.Pass(into.Span[..n]);
                var how = Splice.No;
                if (_writeSplice is { } ws)
                {
                    if (frames.Reserved) throw new IOException($"a frame with flag {(byte)SplicedWrite:x2}, which no peer may send");
                    how = TrySpliceWrite(ws, w, into, n, ref frames);
                    if (how == Splice.PeerClosed) break;
                    spliced = how == Splice.Whole;
                    if (spliced) drained = false;   // the next frame is likely there already
                }
                if (how == Splice.No)   // else TrySpliceWrite advanced the writer
                {
                    // A big frame began in this receive and its rest does not fit behind it: its start goes into a buffer
                    // that holds it whole.
                    if (_keepBig && frames.Total >= KeepMin && frames.Have <= n && into.Length - n < frames.Left)
                    {
                        MoveFrameStart(w, into, n - frames.Have, frames.Have, frames.Total);
                        w.Advance(frames.Have);
                    }
                    else w.Advance(n);
                }
                var flush = w.FlushAsync();
#pragma warning disable VSTHRD002 // this thread's only job is receiving: it waits here while the reader has ReceiveAhead bytes unread
                var done = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
                if (done.IsCompleted || done.IsCanceled) break;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = IsClosed ? null : new IOException(e.Message, e);
        }
        catch (IOException e)
        {
            error = e;   // write-splice: a frame no peer may send, or a pipe that lost a write's bytes
        }
        w.Complete(error);
    }

    /// <summary>
    /// Where the received stream is in its frames, so a receive can ask for the whole rest of a big one: only
    /// the length fields are read (the owner checks everything else; a bad length only makes one receive bigger
    /// or smaller, never larger than the biggest frame).
    /// </summary>
    private struct FrameBoundary
    {
        private int _left;        // bytes of the current frame not received yet (0: at a length field)
        private int _lengthRead;  // bytes of the length field received so far
        private uint _length;
        private int _have;        // bytes of the current frame received so far, its length field included

        /// <summary>Bytes still to come of the frame under way (at most a whole frame's).</summary>
        public readonly int Left => _left;
        /// <summary>Bytes of the frame under way received so far (length field included); 0 between frames.</summary>
        public readonly int Have => _have;
        /// <summary>The whole size of the frame under way (length field included), once its length is known; else 0.</summary>
        public readonly int Total => _left > 0 ? _have + _left : 0;

        /// <summary>A frame passed with <see cref="SplicedWrite"/> set in its flags (byte 5 of the frame).</summary>
        public bool Reserved;

        /// <summary>The next <paramref name="n"/> bytes of the frame under way arrived elsewhere (spliced into a pipe).</summary>
        public void Skip(int n)
        {
            _left -= n;
            _have = _left > 0 ? _have + n : 0;
        }

        public void Pass(ReadOnlySpan<byte> got)
        {
            int i = 0;
            while (i < got.Length)
            {
                if (_left > 0)
                {
                    int skip = Math.Min(_left, got.Length - i);
                    if (_have <= 5 && _have + skip > 5 && (got[i + 5 - _have] & (byte)SplicedWrite) != 0) Reserved = true;
                    Skip(skip);
                    i += skip;
                    continue;
                }
                _length |= (uint)got[i++] << (8 * _lengthRead);
                _have++;
                if (++_lengthRead < 4) continue;
                _left = (int)Math.Min(_length, FrameHeader.Size - 4 + (uint)FrameHeader.MaxBody);
                if (_left == 0) _have = 0;
                (_lengthRead, _length) = (0, 0);
            }
        }
    }

    /// <summary>
    /// Moves a big frame's start, the <paramref name="have"/> bytes at <paramref name="start"/> of this receive's
    /// <paramref name="into"/>, into a buffer of the writer that holds the frame's <paramref name="total"/> bytes whole,
    /// after committing what came before it; returns that buffer, the start copied to its front (the caller advances
    /// the writer over what it fills). The pipe may give this receive's buffer back when it opens the next one (a
    /// buffer nothing was committed to is swapped, not extended), so it is held meanwhile.
    /// </summary>
    private static Memory<byte> MoveFrameStart(PipeWriter w, Memory<byte> into, int start, int have, int total)
    {
        w.Advance(start);
        var held = ReceiveBuffer.TryHold(into);
        var whole = w.GetMemory(total);
        into.Span.Slice(start, have).CopyTo(whole.Span);
        held?.Release();
        return whole;
    }

    /// <summary>Bytes received (0: the peer closed), waiting in poll(2) for some when none are there; throws when the socket failed or was closed here.</summary>
    private int ReceiveBlocking(Span<byte> into, bool pollFirst)
    {
        // Close shuts the socket down before it disposes it, which ends this wait.
        if (pollFirst) _socket.Poll(-1, SelectMode.SelectRead);
        while (true)
        {
            int n = _socket.Receive(into, SocketFlags.None, out var err);
            if (err == SocketError.Success) return n;
            if (err != SocketError.WouldBlock) throw new SocketException((int)err);
            // Close shuts the socket down before it disposes it, which ends this wait.
            _socket.Poll(-1, SelectMode.SelectRead);
        }
    }

    /// <summary>The pool's way of filling the receive pipe (receive-thread off, or no thread to be had).</summary>
    private async Task ReceiveLoopAsync()
    {
        var w = _in!.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                int n = await _socket.ReceiveAsync(w.GetMemory(ReceiveChunk), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) break;
                w.Advance(n);
                var done = await w.FlushAsync().ConfigureAwait(false);
                if (done.IsCompleted || done.IsCanceled) break;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = IsClosed ? null : new IOException(e.Message, e);
        }
        await w.CompleteAsync(error).ConfigureAwait(false);
    }

    /// <summary>Socket settings for frames; applied before a TLS handshake too, so it runs on them.</summary>
    public static void Tune(Socket socket)
    {
        socket.NoDelay = true;
        // Room for a whole 1 MiB I/O frame in flight each way, so a big reply or write goes out in
        // one send instead of a ping-pong of partial sends with the peer's reader.
        socket.SendBufferSize = 4 << 20;
        socket.ReceiveBufferSize = 4 << 20;
    }

    /// <summary>Serialises writers. A leaf lock: nothing is awaited and no callback runs under it.</summary>
    public object SendLock { get; } = new();
    public PipeReader Input { get; }
    public IPEndPoint? RemoteEndPoint { get; }
    /// <summary>Completes with the reason once the connection is closed.</summary>
    public Task<string> Closed => _closed.Task;
    public bool IsClosed => _closed.Task.IsCompleted;
    /// <summary><see cref="Environment.TickCount64"/> of the last bytes received; the owner updates it.</summary>
    public long LastReceiveMs;

    /// <summary>Queues one frame. Must be called under <see cref="SendLock"/>. False when the connection is closed.</summary>
    public bool WriteFrameLocked(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter? body)
    {
        if (_sendClosed) return false;
        int bodyLen = body?.TotalLength ?? 0;
        int total = FrameHeader.Size + bodyLen;
        if (!_queued && total <= DirectMax && _tls is null)
        {
            // Frames held back go in front, in the same send (one wake for the peer instead of two).
            int held = HeldToDirectLocked();
            var frame = _direct.AsSpan(held, total);
            new FrameHeader(type, flags, op, id, bodyLen).Write(frame);
            if (body is not null)
            {
                body.Written.CopyTo(frame[FrameHeader.Size..]);
                body.Bulk.Span.CopyTo(frame[(FrameHeader.Size + body.Length)..]);
            }
            var all = _direct.AsSpan(0, held + total);
            int sent = SendNow(all);
            if (sent == all.Length) return true;
            if (sent < 0) return false;
            // The socket took part of it (its buffer is full): the rest goes first in the queue.
            return Queue(all[sent..]);
        }
        if (!FlushHeldLocked()) return false;
        if (!_queued && _fd >= 0 && body is not null && FrameHeader.Size + body.Length <= DirectMax)
            return SendGathered(type, flags, op, id, body);
        if (!Reserve(total)) return false;
        var w = _out.Writer;
        var head = w.GetSpan(FrameHeader.Size);
        new FrameHeader(type, flags, op, id, bodyLen).Write(head);
        w.Advance(FrameHeader.Size);
        if (body is not null)
        {
            w.Write(body.Written);
            if (!body.Bulk.IsEmpty) w.Write(body.Bulk.Span);
        }
        return Publish();
    }

    /// <summary>
    /// Holds a small frame back: it leaves in front of the next frame written (in the same send) or at
    /// <see cref="FlushHeldLocked"/>, which the caller must make sure follows soon. A frame that cannot be held (over
    /// TLS, behind queued bytes, too big) is written at once. Must be called under <see cref="SendLock"/>.
    /// </summary>
    public bool HoldFrameLocked(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter? body)
    {
        if (_sendClosed) return false;
        int bodyLen = body?.TotalLength ?? 0;
        int total = FrameHeader.Size + bodyLen;
        if (_tls is not null || _queued || _heldLen + total > HeldMax) return WriteFrameLocked(type, flags, op, id, body);
        var frame = _held.AsSpan(_heldLen, total);
        new FrameHeader(type, flags, op, id, bodyLen).Write(frame);
        if (body is not null)
        {
            body.Written.CopyTo(frame[FrameHeader.Size..]);
            body.Bulk.Span.CopyTo(frame[(FrameHeader.Size + body.Length)..]);
        }
        _heldLen += total;
        return true;
    }

    /// <summary>
    /// Moves the frames held back to the front of the direct buffer, for the frame written behind them to leave in the
    /// same send: their length, where that frame goes. Must be called under <see cref="SendLock"/>.
    /// </summary>
    private int HeldToDirectLocked()
    {
        int held = _heldLen;
        if (held > 0) { _held.AsSpan(0, held).CopyTo(_direct); _heldLen = 0; }
        return held;
    }

    /// <summary>Whether frames are held back (read without the lock by the thread that holds them: only writers under
    /// <see cref="SendLock"/> clear it).</summary>
    public bool HasHeld => Volatile.Read(ref _heldLen) > 0;

    /// <summary>Sends the frames held back, if any. Must be called under <see cref="SendLock"/>.</summary>
    public bool FlushHeldLocked()
    {
        int held = _heldLen;
        if (held == 0) return !_sendClosed;
        _heldLen = 0;
        if (_sendClosed) return false;
        var bytes = _held.AsSpan(0, held);
        if (_queued) return Queue(bytes);
        int sent = SendNow(bytes);
        if (sent == held) return true;
        if (sent < 0) return false;
        return Queue(bytes[sent..]);
    }

    public bool FlushHeld()
    {
        lock (SendLock) return FlushHeldLocked();
    }

    /// <summary>
    /// A frame too big for the direct buffer whose size is its bulk payload: header and body from the
    /// direct buffer, the bulk from where the caller has it, in one non-blocking sendmsg. What the socket
    /// does not take goes first in the queue (copied only then).
    /// </summary>
    private bool SendGathered(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter body)
    {
        var head = _direct.AsSpan(0, FrameHeader.Size + body.Length);
        new FrameHeader(type, flags, op, id, body.TotalLength).Write(head);
        body.Written.CopyTo(head[FrameHeader.Size..]);
        var bulk = body.Bulk.Span;
        nint sent = SocketGather.Send(_fd, head, bulk, out int errno);
        if (sent == head.Length + bulk.Length) return true;
        if (sent < 0) { CloseSoon("send failed: " + System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)); return false; }
        if (!Reserve(head.Length + bulk.Length - (int)sent)) return false;
        if (sent < head.Length) { _out.Writer.Write(head[(int)sent..]); _out.Writer.Write(bulk); }
        else _out.Writer.Write(bulk[((int)sent - head.Length)..]);
        return Publish();
    }

    /// <summary>One non-blocking send of <paramref name="frame"/>: bytes taken (0 when the socket would block), or −1 when the connection failed.</summary>
    private int SendNow(ReadOnlySpan<byte> frame)
    {
        SocketError err;
        int n;
        // Close disposes the socket only after taking SendLock, which the caller holds: no race with Dispose.
        try { n = _socket.Send(frame, SocketFlags.None, out err); }
        catch (ObjectDisposedException) { err = SocketError.Shutdown; n = 0; }
        if (err == SocketError.Success) return n;
        if (err == SocketError.WouldBlock) return 0;
        CloseSoon("send failed: " + err);
        return -1;
    }

    /// <summary>
    /// Refuses further frames now and closes from the thread pool: the caller holds SendLock, and
    /// Close runs the connection's owner's reaction to it. (Its own method, so the closure is only
    /// allocated on this path.)
    /// </summary>
    private void CloseSoon(string reason)
    {
        _sendClosed = true;
        _ = Task.Run(() => Close(reason));
    }

    /// <summary>Counts <paramref name="bytes"/> about to be queued; false (and the connection closing) past <see cref="MaxUnsent"/>.</summary>
    private bool Reserve(int bytes)
    {
        if (Interlocked.Add(ref _unsent, bytes) <= MaxUnsent) return true;
        CloseSoon($"peer not reading: over {MaxUnsent >> 20} MiB of frames unsent");
        return false;
    }

    private bool Queue(ReadOnlySpan<byte> bytes)
    {
        if (!Reserve(bytes.Length)) return false;
        _out.Writer.Write(bytes);
        return Publish();
    }

    private bool Publish()
    {
        _queued = true;
        // With no pause threshold the pipe never applies back-pressure, so this flush completes
        // synchronously: it only publishes the bytes to the send loop.
        var flush = _out.Writer.FlushAsync();
        if (!flush.IsCompletedSuccessfully || flush.Result.IsCompleted) { _sendClosed = true; return false; }
        return true;
    }

    public bool WriteFrame(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter? body)
    {
        lock (SendLock) return WriteFrameLocked(type, flags, op, id, body);
    }

    private async Task SendLoopAsync()
    {
        var reader = _out.Reader;
        try
        {
            while (true)
            {
                var res = await reader.ReadAsync().ConfigureAwait(false);
                var buf = res.Buffer;
                if (!buf.IsSingleSegment && buf.Length <= _gather.Length)
                {
                    // One syscall and one packet for the peer to wake up for, rather than one per segment.
                    buf.CopyTo(_gather);
                    await SendAllAsync(_gather.AsMemory(0, (int)buf.Length)).ConfigureAwait(false);
                }
                else
                {
                    foreach (var seg in buf) await SendAllAsync(seg).ConfigureAwait(false);
                }
                // Everything queued is on the socket once the count is back to zero: writers may send
                // directly again. Under SendLock, so no writer queues between the test and the clear.
                lock (SendLock) if (Interlocked.Add(ref _unsent, -buf.Length) == 0) _queued = false;
                reader.AdvanceTo(res.Buffer.End);
                if (res.IsCompleted) break;
            }
            // A graceful close (Goodbye sent, then Close): let the peer read everything first.
            if (_tls is not null)
            {
                try { await _tls.ShutdownAsync().ConfigureAwait(false); }
                catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException) { }
            }
            try { _socket.Shutdown(SocketShutdown.Send); } catch (SocketException) { } catch (ObjectDisposedException) { }
            reader.Complete();
            Close("closed");
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            reader.Complete(e);
            Close("send failed: " + e.Message);
        }
    }

    // Pooled: over TLS every frame passes here, and a write that waits would box the state machine each time.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> m)
    {
        if (_tls is not null) { await _tls.WriteAsync(m).ConfigureAwait(false); return; }
        while (!m.IsEmpty)
        {
            if (_sendWait is { } wait)
            {
                int sent = _socket.Send(m.Span, SocketFlags.None, out var err);
                if (err == SocketError.Success) { m = m[sent..]; continue; }
                if (err != SocketError.WouldBlock) throw new SocketException((int)err);
                if (!await wait.WaitAsync(_socket, write: true).ConfigureAwait(false)) throw new ObjectDisposedException(nameof(FrameConnection));
                continue;
            }
            int n = await _socket.SendAsync(m, SocketFlags.None).ConfigureAwait(false);
            m = m[n..];
        }
    }

    /// <summary>
    /// Plaintext: the send loop's wait for room in the socket, outside the socket engine (<see cref="SocketReadiness"/>),
    /// so the socket never joins the engine's epoll set; null where that is not supported (then SendAsync waits).
    /// </summary>
    private readonly SocketReadiness.Waiter? _sendWait;

    /// <summary>
    /// Stops sending after what is queued and lets the send loop close the socket once it is out:
    /// used after a Goodbye or a refusal so the peer gets the last frame.
    /// </summary>
    public void CloseAfterSend()
    {
        lock (SendLock)
        {
            _sendClosed = true;
            if (_writerDone) return;
            _writerDone = true;
            _out.Writer.Complete();
        }
    }

    /// <summary>Closes at once (idempotent): pending sends are dropped, the reader sees the end.</summary>
    public void Close(string reason)
    {
        if (!_closed.TrySetResult(reason)) return;
        lock (SendLock)
        {
            _sendClosed = true;
            if (!_writerDone) { _writerDone = true; _out.Writer.Complete(); }
        }
        // Before the socket goes: a wait for room must leave the epoll set while the descriptor is still this socket's.
        _sendWait?.Abort();
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _tls?.Dispose();
        DropSplicedWrites();
        Input.CancelPendingRead();
    }
}
