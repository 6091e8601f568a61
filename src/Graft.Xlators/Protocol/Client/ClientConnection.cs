using System.Buffers;
using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

/// <summary>
/// One handshaken connection to a brick: the pending-call table, the receive loop that completes
/// calls, and the timer that enforces frame-timeout and ping-timeout. When it dies every pending
/// call fails (see <see cref="TransportErrors"/>) and nothing is resent; the client makes a new one.
/// </summary>
internal sealed class ClientConnection
{
    private readonly FrameConnection _conn;
    private readonly Dictionary<ulong, PendingCall> _pending = new();   // guarded by itself; leaf lock
    private readonly long _frameTimeoutMs, _pingTimeoutMs;
    private readonly Action<string> _log;
    private ulong _nextId;          // guarded by _conn.SendLock, so ids reach the wire in increasing order
    private TransportFailure? _failure;
    private long _pingSentMs;       // 0 when no ping is outstanding
    private ulong _pingSeq;
    // Disposed when the connection dies, so the timer loop ends at once: a pending tick roots this
    // connection (and through its log, the client's graph) for up to a second after a retirement.
    private readonly PeriodicTimer _timer;

    public ClientConnection(FrameConnection conn, long epoch, long frameTimeoutMs, long pingTimeoutMs, Action<string> log)
    {
        _conn = conn;
        Epoch = epoch;
        _frameTimeoutMs = frameTimeoutMs;
        _pingTimeoutMs = pingTimeoutMs;
        _log = log;
        long bound = Math.Min(frameTimeoutMs, pingTimeoutMs > 0 ? pingTimeoutMs : long.MaxValue);
        _timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(bound / 4, 20, 1000)));
        _conn.LastReceiveMs = Environment.TickCount64;
    }

    /// <summary>Which connection of this client this is: remote fd ids are only valid on the epoch that made them.</summary>
    public long Epoch { get; }
    /// <summary>The brick still had this client's session (its remote fds and locks) when this connection was made.</summary>
    public bool Resumed { get; init; }
    /// <summary>The feature bits the brick granted in its Welcome (<see cref="Wire.Handshake.KnownFeatures"/>).</summary>
    public uint Features { get; init; }
    /// <summary>The brick agreed at the handshake to send invalidation notices on this connection (and we asked).</summary>
    public bool UpcallsGranted { get; init; }
    /// <summary>Takes the brick's invalidation notices (Upcall frames); null drops them.</summary>
    public Action<UpcallNotice>? OnUpcall { get; init; }
    /// <summary>Upcall frames this client could not use (unknown kind, bad body): dropped, the connection kept.</summary>
    public long UpcallsDropped => Interlocked.Read(ref _upcallsDropped);
    private long _upcallsDropped;
    public Task<string> Closed => _conn.Closed;
    public bool IsDead => _conn.IsClosed || HasFailed;
    private bool HasFailed { get { lock (_conn.SendLock) return _failure is not null; } }
    public int PendingCount { get { lock (_pending) return _pending.Count; } }

    public void Start()
    {
        _ = ReceiveLoopAsync();
        _ = TimerLoopAsync();
    }

    /// <summary>Registers <paramref name="call"/> and queues its request. Returns the failure when it cannot be sent.</summary>
    public TransportFailure? Send(PendingCall call, FrameFlags flags, bool bounded)
    {
        lock (_conn.SendLock)
        {
            if (_failure is { } f) return f;
            call.Id = ++_nextId;
            call.DeadlineMs = bounded ? Environment.TickCount64 + _frameTimeoutMs : long.MaxValue;
            lock (_pending) _pending.Add(call.Id, call);
            if (_conn.WriteFrameLocked(FrameType.Request, flags, call.Op, call.Id, call.Body)) return null;
            lock (_pending) _pending.Remove(call.Id);
            return TransportFailure.ConnectionLost;
        }
    }

    /// <summary>
    /// Asks the brick to interrupt request <paramref name="id"/> (a blocking lock whose caller was
    /// interrupted). The request still gets its reply; a connection already failed sends nothing.
    /// </summary>
    public void SendCancel(ulong id)
    {
        lock (_conn.SendLock)
        {
            if (_failure is not null) return;
            _conn.WriteFrameLocked(FrameType.Cancel, FrameFlags.None, FopOp.None, id, null);
        }
    }

    /// <summary>Clean end: a Goodbye tells the brick to free this client's state at once.</summary>
    public void SayGoodbye()
    {
        lock (_conn.SendLock)
        {
            _failure ??= TransportFailure.ShuttingDown;
            _conn.WriteFrameLocked(FrameType.Goodbye, FrameFlags.None, FopOp.None, 0, null);
        }
        _conn.CloseAfterSend();
    }

    /// <summary>Kills the connection and fails every pending call with <paramref name="why"/>.</summary>
    public void Fail(TransportFailure why, string detail)
    {
        lock (_conn.SendLock)
        {
            if (_failure is null) { _failure = why; _log($"connection lost ({why}): {detail}"); }
            else why = _failure.Value;
        }
        _conn.Close(detail);
        _timer.Dispose();
        List<PendingCall> victims;
        lock (_pending) { victims = [.. _pending.Values]; _pending.Clear(); }
        var r = new TransportResult(why);
        foreach (var c in victims) c.Complete(r);
    }

    private async Task ReceiveLoopAsync()
    {
        var input = _conn.Input;
        string why = "connection closed by the brick";
        var failure = TransportFailure.ConnectionLost;
        try
        {
            while (true)
            {
                var res = await input.ReadAsync().ConfigureAwait(false);
                if (res.IsCanceled) break;
                var buf = res.Buffer;
                if (buf.Length > 0) _conn.LastReceiveMs = Environment.TickCount64;
                FrameError err;
                while (FrameHeader.TryRead(ref buf, out var h, out var body, out err))
                {
                    if (!OnFrame(h, body)) { err = FrameError.UnknownType; break; }
                }
                if (err != FrameError.None)
                {
                    why = $"bad frame from the brick ({err})"; failure = TransportFailure.ProtocolError;
                    break;
                }
                input.AdvanceTo(buf.Start, buf.End);
                if (res.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            why = e.Message;
        }
        try { await input.CompleteAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
        Fail(failure, why);
    }

    private bool OnFrame(in FrameHeader h, in ReadOnlySequence<byte> body)
    {
        switch (h.Type)
        {
            case FrameType.Reply:
                PendingCall? call;
                lock (_pending) _pending.Remove(h.Id, out call);
                // A reply to a call that timed out already: it was failed and is forgotten.
                if (call is null) return true;
                if (call.Op != h.Op || !TakeReply(call, h, body))
                {
                    call.Complete(new TransportResult(TransportFailure.ProtocolError));
                    return false;
                }
                call.CompleteReplied();
                return true;
            case FrameType.Pong:
                Volatile.Write(ref _pingSentMs, 0);
                return true;
            case FrameType.Ping:
                _conn.WriteFrame(FrameType.Pong, FrameFlags.None, FopOp.None, h.Id, null);
                return true;
            case FrameType.Upcall:
                // A notice only ever makes us drop cached state: one we cannot read is dropped, never a reason to
                // lose the connection (a newer brick may send kinds we do not know).
                if (UpcallCodec.TryRead(body.ToArray()) is { } notice) OnUpcall?.Invoke(notice);
                else if (Interlocked.Increment(ref _upcallsDropped) == 1) _log("dropped an invalidation notice it could not read (unknown kind or bad body); later ones are only counted");
                return true;
            default:
                return false;
        }
    }

    /// <summary>A readv reply's data goes straight into the caller's buffer; any other reply body is copied out whole.</summary>
    private static bool TakeReply(PendingCall call, in FrameHeader h, in ReadOnlySequence<byte> body)
    {
        if (call.Op != FopOp.Readv || (h.Flags & FrameFlags.Xdata) != 0)
        {
            call.TakeReply(body, h.Flags);
            return true;
        }
        if (body.Length < 4) return false;
        Span<byte> head = stackalloc byte[8];
        body.Slice(0, 4).CopyTo(head);
        call.ReadError = (Errno)BinaryPrimitives.ReadInt32LittleEndian(head);
        if (call.ReadError != Errno.OK) return body.Length == 4 && call.ReadError > 0;
        if (body.Length < 8) return false;
        body.Slice(4, 4).CopyTo(head);
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (n != body.Length - 8 || n > (uint)call.ReadTarget.Length) return false;
        body.Slice(8).CopyTo(call.ReadTarget.Span);
        call.ReadCount = (int)n;
        return true;
    }

    private async Task TimerLoopAsync()
    {
        var timer = _timer;
        while (!IsDead && await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            long now = Environment.TickCount64;
            SweepExpired(now);
            if (_pingTimeoutMs <= 0) continue;
            long sent = Volatile.Read(ref _pingSentMs);
            if (sent != 0 && now - sent > _pingTimeoutMs && now - _conn.LastReceiveMs > _pingTimeoutMs)
            {
                Fail(TransportFailure.PingTimeout, $"no answer to ping within {_pingTimeoutMs} ms");
                break;
            }
            // Probe when the brick has been quiet for a third of the timeout, so a dead peer is
            // noticed within ping-timeout even with no calls pending.
            if (sent == 0 && now - _conn.LastReceiveMs > _pingTimeoutMs / 3)
            {
                Volatile.Write(ref _pingSentMs, now);
                _conn.WriteFrame(FrameType.Ping, FrameFlags.None, FopOp.None, ++_pingSeq, null);
            }
        }
    }

    private void SweepExpired(long now)
    {
        List<PendingCall>? expired = null;
        lock (_pending)
        {
            foreach (var c in _pending.Values)
                if (c.DeadlineMs <= now) (expired ??= []).Add(c);
            if (expired is not null) foreach (var c in expired) _pending.Remove(c.Id);
        }
        if (expired is null) return;
        _log($"{expired.Count} call(s) got no reply within frame-timeout ({_frameTimeoutMs} ms)");
        var r = new TransportResult(TransportFailure.FrameTimeout);
        foreach (var c in expired) c.Complete(r);
    }
}
