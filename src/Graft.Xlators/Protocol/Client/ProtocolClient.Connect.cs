using System.Net;
using System.Net.Sockets;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

public sealed partial class ProtocolClient
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _epoch;
    private int _started, _stopping;
    private bool _childUpSent;   // touched only by the connect loop
    private volatile IPEndPoint? _connectedTo;   // the server address of the last connect (for SameBrickAs)

    private void StartConnecting()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        _loop = Task.Run(() => ConnectLoopAsync(_stop.Token));
    }

    /// <summary>
    /// Stops reconnecting, waits (up to <paramref name="bound"/>) for calls in flight, then sends
    /// Goodbye so the brick frees this client's fds at once, and closes.
    /// </summary>
    private async Task StopAsync(TimeSpan bound)
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0) { if (_loop is { } l) await l.WaitAsync(bound).ConfigureAwait(false); return; }
        _stop.Cancel();
        var deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        var conn = _conn;
        if (conn is not null)
        {
            // In-flight calls are already bounded by frame-timeout; wait for them to drain on their own.
            while (conn.PendingCount > 0 && !conn.IsDead && Environment.TickCount64 < deadline)
                await Task.Delay(5).ConfigureAwait(false);
            conn.SayGoodbye();
            try { await conn.Closed.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(100, deadline - Environment.TickCount64))).ConfigureAwait(false); }
            catch (TimeoutException) { conn.Fail(TransportFailure.ShuttingDown, "goodbye not flushed in time"); }
            conn.Fail(TransportFailure.ShuttingDown, "closed on PARENT_DOWN");
        }
        if (_loop is { } loop)
        {
            try { await loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
            catch (TimeoutException) { Log("connect loop did not stop in time"); }
        }
        _conn = null;
    }

    private async Task ConnectLoopAsync(CancellationToken stop)
    {
        long backoff = _minBackoffMs;
        while (!stop.IsCancellationRequested)
        {
            var conn = await TryConnectAsync(stop).ConfigureAwait(false);
            if (conn is null)
            {
                try { await Task.Delay(TimeSpan.FromMilliseconds(backoff), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                backoff = Math.Min(backoff * 2, _maxBackoffMs);
                continue;
            }
            backoff = _minBackoffMs;
            _conn = conn;
            if (Interlocked.Increment(ref _connects) > 1 && !conn.Resumed)
            {
                // The brick lost our session (it restarted, or our grace there ran out): the fds are
                // reopened, but the locks held through them are gone until someone reclaims them.
                // The connection is published first, so the reclaims this triggers can be sent.
                Interlocked.Increment(ref _resets);
                Log("the brick lost this client's session: CHILD_RESET");
                NotifyParents(GraphEvent.ChildReset);
            }
            _childUpSent = true;
            NotifyParents(GraphEvent.ChildUp);

            var closed = conn.Closed;
            try { await closed.WaitAsync(stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            if (stop.IsCancellationRequested) break;
            _conn = null;
            Log($"disconnected: {await closed.ConfigureAwait(false)}");
            if (_childUpSent) { _childUpSent = false; NotifyParents(GraphEvent.ChildDown); }
        }
    }

    /// <summary>One connect + handshake + reopen, bounded by connect-timeout (reopen by frame-timeout per call).</summary>
    private async Task<ClientConnection?> TryConnectAsync(CancellationToken stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        cts.CancelAfter(TimeSpan.FromMilliseconds(_connectTimeoutMs));
        Socket? socket = null;
        FrameConnection? fc = null;
        try
        {
            // Plaintext sockets stay out of .NET's socket engine (SocketReadiness); TLS streams use it anyway.
            if (_tls is null && SocketReadiness.Supported) socket = await SocketReadiness.ConnectAsync(_host, _port, cts.Token).ConfigureAwait(false);
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(_host, _port, cts.Token).ConfigureAwait(false);
            }
            _connectedTo = socket.RemoteEndPoint as IPEndPoint;
            fc = await OpenTransportAsync(socket, cts.Token).ConfigureAwait(false);
            if (fc is null) { socket.Dispose(); return null; }
            var (err, why, resumed, granted) = await HandshakeAsync(fc, cts.Token).ConfigureAwait(false);
            if (err != Errno.OK)
            {
                Refused(err, why);
                fc.Close("handshake refused");
                return null;
            }
            var conn = new ClientConnection(fc, Interlocked.Increment(ref _epoch), _frameTimeoutMs, _pingTimeoutMs, Log)
            {
                Resumed = resumed,
                Features = granted,
                UpcallsGranted = _upcall && (granted & UpcallCodec.Feature) != 0,
                OnUpcall = _upcall ? n => NotifyUpcall(n) : null,
            };
            conn.Start();
            await ReopenFdsAsync(conn, resumed).ConfigureAwait(false);
            if (conn.IsDead) return null;
            LastConnectError = Errno.OK;
            LastConnectMessage = null;
            Log(resumed ? "connected, session resumed" : "connected");
            return conn;
        }
        catch (OperationCanceledException)
        {
            LastConnectError = stop.IsCancellationRequested ? Errno.ENOTCONN : Errno.ETIMEDOUT;
        }
        catch (SocketException e)
        {
            LastConnectError = e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => Errno.ECONNREFUSED,
                SocketError.HostUnreachable => Errno.EHOSTUNREACH,
                SocketError.NetworkUnreachable => Errno.ENETUNREACH,
                SocketError.TimedOut => Errno.ETIMEDOUT,
                _ => Errno.ENOTCONN,
            };
        }
        catch (IOException) { LastConnectError = Errno.ENOTCONN; }
        if (fc is not null) fc.Close("connect failed");
        else socket?.Dispose();
        return null;
    }

    /// <summary>The token of the session the brick gave us last; presented to resume it after a reconnect. Never logged.</summary>
    private byte[] _resumeToken = [];

    /// <summary>Hello → Challenge → Auth → Welcome; on a refusal the errno and the reason to report.</summary>
    private async Task<(Errno, string Why, bool Resumed, uint Granted)> HandshakeAsync(FrameConnection fc, CancellationToken ct)
    {
        var hello = new Handshake.Hello(Handshake.Version, Identity, Graph?.Generation ?? 0, _instance, _brick, Handshake.NewNonce(),
                                        (_upcall ? UpcallCodec.Feature : 0) | (_lockXattrop ? Handshake.LockXattropFeature : 0)
                                        | (_lockCreateRelease ? Handshake.LockCreateReleaseFeature : 0));
        var w = new BodyWriter();
        Handshake.Write(w, hello);
        fc.WriteFrame(FrameType.Hello, FrameFlags.None, FopOp.None, 0, w);
        var f = await HandshakeIo.ReadFrameAsync(fc.Input, Handshake.MaxBody, ct).ConfigureAwait(false);
        // A brick that turns us away before any challenge (TLS mode, our certificate, its limits) says why in a Welcome.
        if (f is { Ok: true, Header.Type: FrameType.Welcome } && Handshake.ReadWelcome(f.Body) is { Error: not Errno.OK } early)
            return (early.Error, early.Reason, false, 0);
        if (f is not { Ok: true, Header.Type: FrameType.Challenge } || Handshake.ReadChallenge(f.Body) is not { } challenge)
            return Unexpected(f);
        if (challenge.SecretRequired && _secret is null) return (Errno.EACCES, "the brick requires a shared secret: give this client secret-file", false, 0);
        w.Reset();
        Handshake.Write(w, new Handshake.Auth(_secret is null ? [] : Handshake.Proof(_secret, Handshake.ClientRole, hello, challenge.ServerNonce), _resumeToken));
        fc.WriteFrame(FrameType.Auth, FrameFlags.None, FopOp.None, 0, w);
        f = await HandshakeIo.ReadFrameAsync(fc.Input, Handshake.MaxBody, ct).ConfigureAwait(false);
        if (f is not { Ok: true, Header.Type: FrameType.Welcome } || Handshake.ReadWelcome(f.Body) is not { } welcome) return Unexpected(f);
        if (welcome.Error != Errno.OK) return (welcome.Error, welcome.Reason, false, 0);
        // Mutual: with a secret, the brick must prove it too, or we might be talking to an impostor.
        if (_secret is not null && !Handshake.ProofMatches(Handshake.Proof(_secret, Handshake.ServerRole, hello, challenge.ServerNonce), welcome.ServerProof))
            return (Errno.EACCES, "the brick did not prove the shared secret (it has another secret-file, or none)", false, 0);
        _resumeToken = welcome.ResumeToken;
        return (Errno.OK, "", welcome.Resumed, welcome.Features);
    }

    private static (Errno, string, bool, uint) Unexpected(in HandshakeIo.Read f) => f.Ok
        ? (Errno.EPROTO, $"the brick answered with an unexpected {f.Header.Type} frame (another protocol version?)", false, 0u)
        : (Errno.ECONNRESET, $"the brick ended the handshake: {f.Error}", false, 0u);

    /// <summary>
    /// Records a refused connect. A refusal that waiting cannot cure (credentials, TLS mode or trust,
    /// protocol version, brick name) is also the graph's setup failure, so a mount that is starting
    /// stops waiting for this brick and prints why.
    /// </summary>
    private void Refused(Errno err, string why)
    {
        LastConnectError = err;
        LastConnectMessage = why;
        Log($"handshake refused: {err.Name()}: {why}");
        if (err is Errno.EACCES or Errno.EPROTO or Errno.ENOENT)
            Graph?.ReportSetupFailure(this, $"cannot connect to {_host}:{_port}/{_brick}: {why} ({err.Name()})");
    }

    // ---- open fds, so they can be reopened on a new connection ----

    private readonly HashSet<ClientFdCtx> _openFds = [];   // guarded by itself

    /// <summary>
    /// Makes every open fd usable on <paramref name="conn"/> before it is published. A resumed
    /// session still has our remote fds; otherwise (a restarted brick) each is reopened by GFID with
    /// its original flags minus O_CREAT/O_EXCL/O_TRUNC, under the mount's own identity.
    /// </summary>
    private async Task ReopenFdsAsync(ClientConnection conn, bool resumed)
    {
        ClientFdCtx[] fds;
        lock (_openFds) fds = [.. _openFds];
        int failed = 0;
        foreach (var f in fds)
        {
            var old = f.Remote;
            if (resumed && old is not null) { f.Remote = new RemoteFd(conn.Epoch, old.Id); continue; }
            // The brick lost the session: what it acknowledged and nobody fsynced may be gone with it.
            if (!resumed && f.LoseUnsyncedWrites()) Log($"{f.Gfid}: writes not covered by an fsync may be lost; its next fsync and close fail with EIO");
            var q = new FopRequest(f.IsDir ? FopOp.Opendir : FopOp.Open)
            {
                Caller = new WireCaller { Groups = [] },
                Loc = new WireLoc(f.Gfid, default, null),
                Flags = f.Flags & ~(OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_TRUNC),
            };
            var p = await CallOnAsync(conn, q, bounded: true).ConfigureAwait(false);
            if (p.Error == Errno.OK) f.Remote = new RemoteFd(conn.Epoch, p.Fd);
            else { f.Remote = null; failed++; Log($"reopen of {f.Gfid} failed: {p.Error.Name()}"); }
        }
        if (fds.Length > 0) Log($"reopened {fds.Length - failed} of {fds.Length} fd(s)" + (resumed ? " (session resumed)" : ""));
    }

    private void TrackFd(Fd fd, ClientFdCtx ctx)
    {
        fd.SetCtx(this, ctx);
        lock (_openFds) _openFds.Add(ctx);
    }
}

/// <summary>A remote fd id, valid only on the connection epoch that obtained it.</summary>
internal sealed record RemoteFd(long Epoch, ulong Id);

/// <summary>
/// What protocol/client keeps on an fd: how to reopen it, its id on the brick, and which client
/// instance it belongs to (a newer graph's client finds it by that when re-binding locks).
/// </summary>
internal sealed partial class ClientFdCtx(ProtocolClient client, Gfid gfid, int flags, bool isDir)
{
    public ProtocolClient Client { get; } = client;
    public Gfid Gfid { get; } = gfid;
    public int Flags { get; } = flags;
    public bool IsDir { get; } = isDir;
    private volatile RemoteFd? _remote;
    public RemoteFd? Remote { get => _remote; set => _remote = value; }
}
