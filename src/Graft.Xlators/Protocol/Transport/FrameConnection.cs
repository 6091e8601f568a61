using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// One TCP connection carrying frames, shared by protocol/client and protocol/server. Receiving
/// goes through a <see cref="PipeReader"/> the owner drains; sending goes through a pipe with no
/// back-pressure threshold, so writers copy their frame in under <see cref="SendLock"/> without
/// ever awaiting, and one send loop moves the bytes to the socket (Kestrel's shape).
/// </summary>
public sealed class FrameConnection
{
    private readonly Socket _socket;
    private readonly Pipe _out = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _sendClosed;   // guarded by SendLock

    public FrameConnection(Socket socket)
    {
        _socket = socket;
        _socket.NoDelay = true;
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        Input = PipeReader.Create(new NetworkStream(socket, ownsSocket: false),
                                  new StreamPipeReaderOptions(bufferSize: 64 << 10, minimumReadSize: 8 << 10));
        _ = SendLoopAsync();
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
        var w = _out.Writer;
        var head = w.GetSpan(FrameHeader.Size);
        new FrameHeader(type, flags, op, id, bodyLen).Write(head);
        w.Advance(FrameHeader.Size);
        if (body is not null)
        {
            w.Write(body.Written);
            if (!body.Bulk.IsEmpty) w.Write(body.Bulk.Span);
        }
        // With no pause threshold the pipe never applies back-pressure, so this flush completes
        // synchronously: it only publishes the bytes to the send loop.
        var flush = w.FlushAsync();
        if (!flush.IsCompletedSuccessfully || flush.Result.IsCompleted) { _sendClosed = true; return false; }
        return true;
    }

    public bool WriteFrame(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter? body)
    {
        lock (SendLock) return WriteFrameLocked(type, flags, op, id, body);
    }

    /// <summary>Queues raw bytes (tests and the fuzzer use this to send what no codec would).</summary>
    public bool WriteRaw(ReadOnlySpan<byte> bytes)
    {
        lock (SendLock)
        {
            if (_sendClosed) return false;
            _out.Writer.Write(bytes);
            var flush = _out.Writer.FlushAsync();
            return flush.IsCompletedSuccessfully && !flush.Result.IsCompleted;
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _out.Reader;
        try
        {
            while (true)
            {
                var res = await reader.ReadAsync().ConfigureAwait(false);
                foreach (var seg in res.Buffer)
                {
                    var m = seg;
                    while (!m.IsEmpty)
                    {
                        int n = await _socket.SendAsync(m, SocketFlags.None).ConfigureAwait(false);
                        m = m[n..];
                    }
                }
                reader.AdvanceTo(res.Buffer.End);
                if (res.IsCompleted) break;
            }
            // A graceful close (Goodbye sent, then Close): let the peer read everything first.
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

    /// <summary>
    /// Stops sending after what is queued and lets the send loop close the socket once it is out:
    /// used after a Goodbye or a refusal so the peer gets the last frame.
    /// </summary>
    public void CloseAfterSend()
    {
        lock (SendLock)
        {
            if (_sendClosed) return;
            _sendClosed = true;
            _out.Writer.Complete();
        }
    }

    /// <summary>Closes at once (idempotent): pending sends are dropped, the reader sees the end.</summary>
    public void Close(string reason)
    {
        if (!_closed.TrySetResult(reason)) return;
        lock (SendLock)
        {
            if (!_sendClosed) { _sendClosed = true; _out.Writer.Complete(); }
        }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        Input.CancelPendingRead();
    }
}
