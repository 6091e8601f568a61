using System.Diagnostics;
using System.Buffers;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// One client connection on the brick: the handshake, then a receive loop that checks every
/// frame and starts each request without waiting for it (replies go out in completion order,
/// matched by request id). Anything malformed, oversized or out of sequence closes this
/// connection only, with a log line.
/// </summary>
internal sealed partial class ServerConnection
{
    private readonly ProtocolServer _server;
    private readonly FrameConnection _conn;
    private ClientSession? _session;
    private ulong _lastId;   // request ids must increase: a replayed or reordered id is out of sequence
    private bool _goodbye;
    /// <summary>
    /// Cancelled when the connection ends: every call it started gets it as its cancellation, so a
    /// blocking lock whose client is gone leaves the wait queue instead of being granted to nobody.
    /// </summary>
    private readonly CancellationTokenSource _closing = new();
    /// <summary>Blocking lock requests in service, by request id, so a Cancel frame can interrupt one. Guarded by itself.</summary>
    private readonly Dictionary<ulong, ServerCall> _interruptible = new();

    /// <summary>The verdict on the client's certificate over TLS; null on a plaintext connection.</summary>
    private readonly TlsConfig.PeerVerdict? _tls;

    public ServerConnection(ProtocolServer server, FrameConnection conn, TlsConfig.PeerVerdict? tls = null)
    {
        _server = server;
        _conn = conn;
        _tls = tls;
        Peer = conn.RemoteEndPoint?.ToString() ?? "?";
        conn.FailSplice = server.FailSplice;
    }

    public string Peer { get; }
    /// <summary>The connection's frames (read-splice asks it whether it can splice).</summary>
    internal FrameConnection Transport => _conn;
    private ILogger Log => _server.Logger;

    public void Close(string reason) => _conn.Close(reason);

    public async Task RunAsync()
    {
        try
        {
            if (await HandshakeAsync().ConfigureAwait(false)) await ReceiveLoopAsync().ConfigureAwait(false);
            else
            {
                // A refusal's Welcome is queued behind CloseAfterSend: let it reach the client (bounded).
                try { await _conn.Closed.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
                catch (TimeoutException) { }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            Log.Ended(Peer, e.Message);
        }
        catch (Exception e)
        {
            // A bug, not the client's fault; still, one connection must never take the brick down.
            Log.Failed(e, Peer);
        }
        finally
        {
            _conn.Close("connection ended");
            try { await _conn.Input.CompleteAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
            // Before the session is detached: its waiters leave the queues first (their replies go nowhere).
            _closing.Cancel();
            DropBacklog();
            _server.Forget(this);
            if (_session is { } s) _server.Detach(s, this, _goodbye);
        }
    }

    private async Task<bool> HandshakeAsync()
    {
        using var cts = new CancellationTokenSource(_server.HandshakeTimeout);
        // Over TLS the certificate was checked already; an untrusted one gets this refusal and nothing else.
        if (_tls is { Trusted: false } v) return Refuse(Errno.EACCES, "client " + v.Problem, ProtocolServer.Refusal.UntrustedCertificate);
        var f = await HandshakeIo.ReadFrameAsync(_conn.Input, Handshake.MaxBody, cts.Token).ConfigureAwait(false);
        if (f.Oversized) return Reject(f.Error!, ProtocolServer.Refusal.HandshakeTooLarge);
        if (f is not { Ok: true, Header.Type: FrameType.Hello } || Handshake.ReadHello(f.Body) is not { } hello)
            return Reject(f.Error ?? "expected a valid hello frame");
        if (hello.Version != Handshake.Version)
            return Refuse(Errno.EPROTO, $"protocol version {hello.Version} (this brick speaks {Handshake.Version})", ProtocolServer.Refusal.BadHello);
        var w = new BodyWriter();
        var serverNonce = Handshake.NewNonce();
        Handshake.Write(w, new Handshake.Challenge(serverNonce, _server.Secret is not null));
        _conn.WriteFrame(FrameType.Challenge, FrameFlags.None, FopOp.None, 0, w);
        f = await HandshakeIo.ReadFrameAsync(_conn.Input, Handshake.MaxBody, cts.Token).ConfigureAwait(false);
        if (f.Oversized) return Reject(f.Error!, ProtocolServer.Refusal.HandshakeTooLarge);
        if (f is not { Ok: true, Header.Type: FrameType.Auth } || Handshake.ReadAuth(f.Body) is not { } auth)
            return Reject(f.Error ?? "expected a valid auth frame");
        if (_server.Secret is { } secret &&
            !Handshake.ProofMatches(Handshake.Proof(secret, Handshake.ClientRole, hello, serverNonce), auth.Proof))
            return Refuse(Errno.EACCES, auth.Proof.Length == 0 ? "no secret proof (the brick requires secret-file)" : "wrong secret",
                          ProtocolServer.Refusal.WrongSecret);
        if (hello.Brick != _server.BrickName) return Refuse(Errno.ENOENT, $"no brick '{hello.Brick}' here", ProtocolServer.Refusal.BadHello);
        // Who this is: a certificate names its holder; a secret proves membership of the cluster;
        // anything else is only an address, and its callers' ids are claims (root-squashed).
        var (principal, trusted) = _tls?.Principal is { } p ? (p, true)
            : _server.Secret is not null ? ("secret", true)
            : ("address " + (_conn.RemoteEndPoint is { } ep ? ProtocolServer.Normalize(ep.Address) : "?"), false);
        var key = $"{hello.Identity:N}/{hello.Generation}/{hello.Instance:N}";
        ClientSession? session;
        bool resumed;
        while (true)
        {
            (session, resumed, var wait, var refused) = _server.Attach(key, hello.Identity, hello.Instance, this, principal, trusted, auth.ResumeToken);
            // EBUSY, not EACCES: a client whose Welcome was lost in a cut connection lacks that session's
            // token through no fault of its own; it is refused until the session's grace runs out, then served.
            if (refused)
                return Refuse(Errno.EBUSY, "session is in use: a resume needs its token and the principal that opened it",
                              ProtocolServer.Refusal.ResumeRefused);
            if (wait is null) break;
            // This mount's last session just ended and its locks are being dropped: start after that.
            await wait.WaitAsync(cts.Token).ConfigureAwait(false);
        }
        _session = session!;
        uint granted = hello.Features & Handshake.KnownFeatures;
        _session.WantsUpcalls = (granted & UpcallCodec.Feature) != 0;
        w.Reset();
        var serverProof = _server.Secret is { } s2 ? Handshake.Proof(s2, Handshake.ServerRole, hello, serverNonce) : [];
        Handshake.Write(w, new Handshake.Welcome(Errno.OK, resumed, serverProof, _session.ResumeToken, "", granted));
        _conn.WriteFrame(FrameType.Welcome, FrameFlags.None, FopOp.None, 0, w);
        Log.Connected(Peer, key, hello.Brick, resumed ? "resumed" : "new", _session.FdCount);
        Log.Trust(Peer, key, _tls?.Subject is { } subject ? $"{principal} ({subject})" : principal,
                  trusted ? "trusted" : _session.Squash ? "untrusted: root squashed, no trusted.*/security.* xattrs" : "untrusted, ids used as sent (root-squash off)");
        return true;
    }

    /// <summary>Queues one invalidation notice to the client (features/upcall, through its session).</summary>
    internal void SendUpcall(in UpcallNotice notice)
    {
        var w = new BodyWriter(64);
        UpcallCodec.Write(w, notice);
        _conn.WriteFrame(FrameType.Upcall, FrameFlags.None, FopOp.None, 0, w);
        w.Reset();
    }

    /// <summary>A handshake step that broke the protocol: close without an answer.</summary>
    private bool Reject(string why, ProtocolServer.Refusal? counted = null)
    {
        if (counted is { } c) Log.RefusingCounted(Peer, why, _server.CountRefusal(c));
        else Log.Closing(Peer, why);
        return false;
    }

    /// <summary>A well-formed handshake we refuse: say why (the client reports it), then close.</summary>
    private bool Refuse(Errno e, string why, ProtocolServer.Refusal counted)
    {
        Log.RefusingCounted(Peer, why, _server.CountRefusal(counted));
        var w = new BodyWriter();
        Handshake.Write(w, Handshake.Welcome.Refusal(e, why));
        _conn.WriteFrame(FrameType.Welcome, FrameFlags.None, FopOp.None, 0, w);
        _conn.CloseAfterSend();
        return false;
    }

    private async Task ReceiveLoopAsync()
    {
        var input = _conn.Input;
        while (true)
        {
            var res = await input.ReadAsync().ConfigureAwait(false);
            if (res.IsCanceled) return;
            var buf = res.Buffer;
            string? error = null;
            while (error is null && FrameHeader.TryRead(ref buf, out var h, out var body, out var ferr))
            {
                // The last frame of what arrived may be served right here (Flow: Admit); one with frames behind it only
                // when it is a release, flush or unlink (InlineAhead).
                error = OnFrame(h, body, last: buf.IsEmpty);
                if (_backlogFull) break;   // the rest stays in the pipe until there is room (Flow)
            }
            // Replies held back (ServeAsync) leave now if nothing written since took them along.
            if (_conn.HasHeld) _conn.FlushHeld();
            if (error is null && !_backlogFull && !res.IsCompleted)
            {
                // TryRead stopped: either it needs more bytes, or the header is bad.
                var probe = buf;
                FrameHeader.TryRead(ref probe, out _, out _, out var ferr2);
                if (ferr2 != FrameError.None) error = $"bad frame header ({ferr2})";
            }
            if (error is not null)
            {
                Log.Closing(Peer, error);
                return;
            }
            if (_goodbye) return;
            if (_backlogFull)
            {
                // Frames left in the buffer are not examined yet: the next read returns them at once.
                input.AdvanceTo(buf.Start);
                await WaitForRoomAsync().ConfigureAwait(false);
                continue;
            }
            input.AdvanceTo(buf.Start, buf.End);
            if (res.IsCompleted) return;
        }
    }

    /// <summary>Handles one frame; returns why the connection must close, or null.</summary>
    private string? OnFrame(in FrameHeader h, in ReadOnlySequence<byte> body, bool last)
    {
        switch (h.Type)
        {
            case FrameType.Request:
                _server.CountReceived(FrameHeader.Size + body.Length);
                if (h.Id <= _lastId) return $"request id {h.Id} out of sequence (last {_lastId})";
                _lastId = h.Id;
                if (!FopOps.IsKnown(h.Op)) return $"unknown opcode {(ushort)h.Op}";
                var call = ServerCall.Rent();
                var flags = h.Flags;
                if ((flags & FrameConnection.SplicedWrite) != 0)
                {
                    // The receive thread cut this write's data into a pipe (write-splice): the body is its fields.
                    if (h.Op != FopOp.Writev || !_conn.TakeSplicedWrite(out var pipe, out int length))
                    {
                        ServerCall.Return(call);
                        return $"request {h.Id} with flag {(byte)FrameConnection.SplicedWrite:x2}";
                    }
                    call.TakeSplicedBody(body, pipe, length, _server.WriteSplice);
                    flags &= ~FrameConnection.SplicedWrite;
                }
                else call.TakeBody(body);
                if (call.BodyKept) _server.CountBodyKept();
                if (!FopCodec.TryReadRequest(h.Op, flags, call.BodyMemory, out call.Request, call.Ctx.Groups))
                {
                    ServerCall.Return(call);
                    return $"malformed {h.Op} request {h.Id}";
                }
                if (call.WriteSpliced && !call.SplicedRequestDecoded())
                {
                    ServerCall.Return(call);
                    return $"request {h.Id}: a spliced write's data is not where its head said";
                }
                call.Id = h.Id;
                call.Connection = this;
                if (IsBlockingLock(call.Request))
                {
                    // A blocking lock may wait as long as another client holds the lock: it takes one of its
                    // session's lock waits, never a request slot, or parked waits would stop this loop.
                    if (!_session!.TryEnterLockWait(_server.MaxLockWaitsPerSession))
                    {
                        _server.LockWaitLimitReached(_session);
                        Answer(call, Errno.ENOLCK);
                        return null;
                    }
                    call.HoldsLockWait = true;
                    // Registered here, in the receive loop, so a Cancel frame that follows finds it.
                    call.Interrupt = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                    call.Ctx.Cancellation = call.Interrupt.Token;
                    lock (_interruptible) _interruptible[h.Id] = call;
                    Serve(call);
                    return null;
                }
                call.Ctx.Cancellation = _closing.Token;
                call.Laneable = h.Op == FopOp.Writev && _session!.FlagsOf(call.Request.Fd) is int wf && (wf & (OpenFlags.O_DIRECT | OpenFlags.O_DSYNC)) == 0;
                if (!_server.InlineFops || (!last && !InlineAhead(call.Request))) Admit(call, inline: false);
                else
                {
                    var when = InlineWhen(call.Request);
                    Admit(call, inline: when != Inline.Never, onlyAlone: when == Inline.Alone, ahead: !last);
                }
                return null;
            case FrameType.Ping:
                if (body.Length != 0) return "ping with a body";
                _conn.WriteFrame(FrameType.Pong, FrameFlags.None, FopOp.None, h.Id, null);
                return null;
            case FrameType.Pong:
                return null;
            case FrameType.Goodbye:
                _goodbye = true;
                return null;
            case FrameType.Cancel:
                if (body.Length != 0) return "cancel with a body";
                // The source, not the call, is taken under the lock: a call answered meanwhile goes back
                // to the pool and may serve another request, but this source stays its old one's.
                // Unknown id: the request was answered already (the reply crossed the cancel).
                CancellationTokenSource? interrupt = null;
                lock (_interruptible) if (_interruptible.TryGetValue(h.Id, out var victim)) interrupt = victim.Interrupt;
                try { interrupt?.Cancel(); }
                catch (ObjectDisposedException) { } // answered and returned to the pool meanwhile
                return null;
            default:
                return $"unexpected {h.Type} frame after the handshake";
        }
    }

    internal async Task ServeAsync(ServerCall call)
    {
        // A lock wait gives its place back before its answer leaves: a client that sees its wait end
        // may park another at once, and must not find the place still taken.
        bool lockWait = call.HoldsLockWait, waiting = lockWait, laneHead = call.LaneHead;
        var started = Stopwatch.GetTimestamp();
        try
        {
            // Served inline with frames behind it, and done before returning to the receive loop: its reply waits for
            // the next frame written (the reply of the request behind it, when that is served inline too) and leaves
            // in the same send, so the client wakes once for both; the loop sends it at the latest when it has served
            // what it received (ReceiveLoopAsync).
            bool hold = call.ServedAhead;
            var dispatch = _server.DispatchAsync(_session!, call);
            hold &= dispatch.IsCompleted;
            var reply = await dispatch.ConfigureAwait(false);
            var flags = FopCodec.WriteReply(call.Reply, call.Request.Op, reply);
            if (waiting) { waiting = false; _session!.ExitLockWait(); }
            if (call.Spliced is { } pipe)
            {
                if (_conn.WriteFrameSpliced(FrameType.Reply, flags, call.Request.Op, call.Id, call.Reply, pipe, call.ReadSpare)
                    is FrameConnection.Spliced.Partly or FrameConnection.Spliced.Copied) _server.CountSpliceCopied();
            }
            else if (hold) lock (_conn.SendLock) _conn.HoldFrameLocked(FrameType.Reply, flags, call.Request.Op, call.Id, call.Reply);
            else _conn.WriteFrame(FrameType.Reply, flags, call.Request.Op, call.Id, call.Reply);
            _server.Served(call.Request.Op, started, call.Reply.Length);
        }
        catch (Exception e)
        {
            Log.FopFailed(e, call.Request.Op, Peer);
            call.Reply.Reset();
            FopCodec.WriteReply(call.Reply, call.Request.Op, new FopReply(Errno.EIO));
            if (waiting) { waiting = false; _session!.ExitLockWait(); }
            _conn.WriteFrame(FrameType.Reply, FrameFlags.None, call.Request.Op, call.Id, call.Reply);
        }
        finally
        {
            if (call.Interrupt is not null) lock (_interruptible) _interruptible.Remove(call.Id);
            ServerCall.Return(call);
            if (waiting) _session!.ExitLockWait();
            if (!lockWait) Next();
            if (laneHead) _ = ServeLaneAsync();
        }
    }

    /// <summary>A request that may wait as long as another client holds a lock: SETLKW, and blocking inodelk/entrylk.</summary>
    private static bool IsBlockingLock(in FopRequest q) => q.Op switch
    {
        FopOp.Lk => q.Flags == (int)LockCmd.SetLkW,
        FopOp.InodeLk or FopOp.EntryLk or FopOp.InodeLkXattrop or FopOp.FinodeLkXattrop => q.Flags == (int)DomainLockCmd.LockBlocking,
        _ => false,
    };

    /// <summary>
    /// Fops the receive loop serves itself even with more frames behind them in what it received (inline-fops): a
    /// release or flush (an fstat and a close, a lock owner's locks dropped) and an unlink (its handle's drop and the
    /// inode's freeing go behind the reply, storage/posix). Sent to the pool they would cost a hand-off each, and make
    /// the request behind them find something in service: with one job creating files, the kernel's RELEASE of one
    /// file and the CREATE of the next often arrive in one receive, and both went to the pool (docs/fuse-benchmark.md
    /// "Session 13"). Anything else with a frame behind it goes to the pool, so a slow one cannot hold up the rest.
    /// </summary>
    private static bool InlineAhead(in FopRequest q) =>
        q.Op is FopOp.Release or FopOp.Releasedir or FopOp.Flush or FopOp.Unlink;

    /// <summary>When the receive loop may serve a request itself (inline-fops).</summary>
    private enum Inline { Never, Alone, Always }

    /// <summary>
    /// Fops whose cost is a little metadata work, which the receive loop may serve itself (inline-fops).
    /// Always: lookups, stats, xattr reads, opens, locks that do not wait, flush, release and unlink (since session 13:
    /// its handle's drop, which read the handle's cold directories for 0.3–12 ms after the page cache was dropped, and
    /// the inode's freeing now happen behind its reply; 4 jobs' unlinks, alternated pairs: brick switches per unlink
    /// −35–55%, cold ones no slower). Only while nothing else of this connection is in service (<see cref="Inline.Alone"/>):
    /// the other namespace changes, which may wait for the disk (the directory blocks they change, the inodes they
    /// make) — one job pays no hand-off, several overlap their waits on the pool — and a small buffered write
    /// (<see cref="IsLoneSmallWrite"/>). Never: other reads and writes (the jobs that share a connection issue them
    /// side by side, and served here they would run one at a time: 4 jobs of 4 KiB O_DIRECT I/O lost 4–12% so,
    /// docs/fuse-benchmark.md), fsync and fsyncdir (they wait for the disk), blocking locks (they never get here),
    /// directory reads (up to 1,024 entries, each stat'ed), truncates (O_TRUNC too), fallocate and copy_file_range
    /// (they move or free blocks) — those go to the thread pool, so a fop that holds its thread never holds up the
    /// requests behind it on this connection.
    /// </summary>
    private Inline InlineWhen(in FopRequest q) => q.Op switch
    {
        FopOp.Lookup or FopOp.Stat or FopOp.Fstat or FopOp.Access or FopOp.Readlink or FopOp.Statfs
            or FopOp.Getxattr or FopOp.Fgetxattr or FopOp.Listxattr or FopOp.Flistxattr
            or FopOp.Opendir or FopOp.Flush or FopOp.Release or FopOp.Releasedir
            or FopOp.Lseek or FopOp.Xattrop or FopOp.Lk or FopOp.InodeLk or FopOp.EntryLk or FopOp.InodeLkXattrop
            or FopOp.ReleaseInodeLkXattrop or FopOp.Fxattrop or FopOp.FinodeLkXattrop or FopOp.Unlink => Inline.Always,
        FopOp.Mknod or FopOp.Mkdir or FopOp.Symlink or FopOp.Link or FopOp.Rmdir or FopOp.Rename => Inline.Alone,
        FopOp.Setattr or FopOp.Fsetattr => (q.Attr.Valid & SetAttrValid.Size) == 0 ? Inline.Always : Inline.Never,
        FopOp.Open => (q.Flags & OpenFlags.O_TRUNC) == 0 ? Inline.Always : Inline.Never,
        FopOp.Create or FopOp.CreateInodeLkXattrop => (q.Flags & OpenFlags.O_TRUNC) == 0 ? Inline.Alone : Inline.Never,
        FopOp.Writev => IsLoneSmallWrite(q) ? Inline.Alone : Inline.Never,
        _ => Inline.Never,
    };

    /// <summary>Largest write the receive loop may serve itself (a copy into the page cache: microseconds).</summary>
    internal const int InlineWriteMax = 64 << 10;

    /// <summary>
    /// A small buffered write, which the receive loop may serve itself when nothing else of this connection is in
    /// service (Admit's <c>onlyAlone</c>): the 4 KiB write a close waits for after a create (write-behind sends
    /// it and FLUSH waits for its reply) then costs no hand-off to the pool. Jobs writing side by side still go
    /// to the pool (one is in service whenever the next arrives), and an fd opened O_DIRECT or O_[D]SYNC never
    /// comes here: such a write waits for the disk.
    /// </summary>
    private bool IsLoneSmallWrite(in FopRequest q) =>
        q.Data.Length <= InlineWriteMax
        && _session!.FlagsOf(q.Fd) is int flags && (flags & (OpenFlags.O_DIRECT | OpenFlags.O_DSYNC)) == 0;

    /// <summary>Answers a request the receive loop refuses itself (a limit), without serving it.</summary>
    private void Answer(ServerCall call, Errno e)
    {
        FopCodec.WriteReply(call.Reply, call.Request.Op, new FopReply(e));
        _conn.WriteFrame(FrameType.Reply, FrameFlags.None, call.Request.Op, call.Id, call.Reply);
        ServerCall.Return(call);
    }
}
