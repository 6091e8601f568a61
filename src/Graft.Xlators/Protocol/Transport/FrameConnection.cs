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
/// <see cref="SendLock"/> (no thread hand-off on the request/reply path); whatever the socket does
/// not take at once, and every frame behind it, goes through a pipe with no back-pressure
/// threshold that one send loop moves to the socket (Kestrel's shape). Writers never wait.
/// </summary>
/// <remarks>
/// Over TLS the same frames go through an <see cref="SslStream"/> instead: every frame is queued and
/// the send loop writes it to the stream (an SslStream takes one writer at a time, and its writes
/// cannot be made non-blocking the way a socket send can), and the receive pipe reads the decrypted
/// stream. The plaintext path is untouched.
/// </remarks>
public sealed class FrameConnection
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
    /// <summary>Frames up to this size are sent directly from here (header and body in one send); larger ones always queue.</summary>
    private readonly byte[] _direct = new byte[DirectMax];
    private const int DirectMax = (64 << 10) + 1024;
    /// <summary>Bytes queued but not yet handed to the socket.</summary>
    private long _unsent;
    /// <summary>
    /// A peer that stops reading while we keep answering would make the send pipe grow without
    /// bound; past this many unsent bytes the connection is closed instead.
    /// </summary>
    public const long MaxUnsent = 64L << 20;

    public FrameConnection(Socket socket) : this(socket, null) { }

    /// <param name="tls">The authenticated TLS stream over <paramref name="socket"/>, or null for plaintext.</param>
    public FrameConnection(Socket socket, SslStream? tls)
    {
        _socket = socket;
        _tls = tls;
        Tune(socket);
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        Input = PipeReader.Create(tls ?? (Stream)new NetworkStream(socket, ownsSocket: false),
                                  new StreamPipeReaderOptions(bufferSize: 256 << 10, minimumReadSize: 64 << 10));
        // After the stream is made (NetworkStream refuses a non-blocking socket): synchronous sends
        // must never block a writer holding SendLock; they report WouldBlock and the rest queues.
        // The async receive and the send loop's async sends are not affected. (Over TLS nothing is
        // sent directly, and the TLS stream's own NetworkStream wants a blocking socket.)
        if (tls is null) _socket.Blocking = false;
        _ = SendLoopAsync();
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
            var frame = _direct.AsSpan(0, total);
            new FrameHeader(type, flags, op, id, bodyLen).Write(frame);
            if (body is not null)
            {
                body.Written.CopyTo(frame[FrameHeader.Size..]);
                body.Bulk.Span.CopyTo(frame[(FrameHeader.Size + body.Length)..]);
            }
            int sent = SendNow(frame);
            if (sent == total) return true;
            if (sent < 0) return false;
            // The socket took part of it (its buffer is full): the rest goes first in the queue.
            return Queue(frame[sent..]);
        }
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
            int n = await _socket.SendAsync(m, SocketFlags.None).ConfigureAwait(false);
            m = m[n..];
        }
    }

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
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _tls?.Dispose();
        Input.CancelPendingRead();
    }
}
