using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// Accepting: what a connection must pass before it may even say Hello. Its address must be in
// auth-allow; the brick must have room for it (max-connections, and max-connections-per-address so
// one client cannot take them all); it must speak the brick's transport (TLS or plaintext). Each
// refusal is a plaintext Welcome with an errno and a reason when we can still send one, then a
// close; each is counted and logged with its count. Short of descriptors, the loop backs off and
// hands its reserve back to the process (DescriptorReserve).
public sealed partial class ProtocolServer
{
    /// <summary>Why a connection was turned away. Counted; see <see cref="Refused"/>.</summary>
    public enum Refusal
    {
        /// <summary>The peer's address is not in auth-allow (at accept).</summary>
        AddressNotAllowed,
        /// <summary>max-connections reached (at accept).</summary>
        TooManyConnections,
        /// <summary>max-connections-per-address reached for the peer's address (at accept).</summary>
        TooManyFromAddress,
        /// <summary>A plaintext client at a TLS brick.</summary>
        TlsRequired,
        /// <summary>A TLS client at a plaintext brick.</summary>
        TlsNotEnabled,
        /// <summary>The TLS handshake failed.</summary>
        TlsFailed,
        /// <summary>Nothing (or no complete TLS handshake) arrived within handshake-timeout.</summary>
        HandshakeTimeout,
        /// <summary>The client's certificate was missing or not signed by tls-ca.</summary>
        UntrustedCertificate,
        /// <summary>A handshake frame over <see cref="Handshake.MaxBody"/>.</summary>
        HandshakeTooLarge,
        /// <summary>A wrong or missing secret proof.</summary>
        WrongSecret,
        /// <summary>A Hello naming an existing session without its resume token or as another principal.</summary>
        ResumeRefused,
        /// <summary>Another protocol version, or a brick name this server does not serve.</summary>
        BadHello,
    }

    private readonly long[] _refusals = new long[Enum.GetValues<Refusal>().Length];
    private long _acceptBackoffs;

    /// <summary>Connections refused so far for <paramref name="why"/>.</summary>
    public long Refused(Refusal why) => Interlocked.Read(ref _refusals[(int)why]);
    /// <summary>Times the accept loop paused because the process was out of descriptors.</summary>
    public long AcceptBackoffs => Interlocked.Read(ref _acceptBackoffs);
    internal long CountRefusal(Refusal why) => Interlocked.Increment(ref _refusals[(int)why]);

    private const long FirstBackoffMs = 10;
    private int _maxConnections, _maxPerAddress;
    private long _acceptMaxBackoffMs;
    private readonly Lock _admit = new();   // leaf lock over the two counts below
    private int _admitted;
    private readonly Dictionary<IPAddress, int> _perAddress = new();

    private void InitLimits()
    {
        _maxConnections = Options.GetInt("max-connections");
        _maxPerAddress = Options.GetInt("max-connections-per-address");
        _acceptMaxBackoffMs = Options.GetLong("accept-max-backoff");
        int reserve = Options.GetInt("accept-fd-reserve");
        _fdReserve = reserve > 0 ? new DescriptorReserve(reserve) : null;
    }

    private DescriptorReserve? _fdReserve;
    // Beyond the reserve: one for the connection accept takes, one still free after it.
    private const int SpareForAccept = 2;

    private async Task AcceptLoopAsync()
    {
        var listener = _listener!;
        long backoffMs = 0;
        while (!_stop.IsCancellationRequested)
        {
            string? shortOf = null;
            if (_fdReserve is { } reserve && !reserve.TryEnsure(SpareForAccept))
                shortOf = $"fewer than {SpareForAccept} file descriptors free beyond the accept reserve of {reserve.Size}";
            else
            {
                try
                {
                    var s = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                    backoffMs = 0;
                    Admit(s);
                    continue;
                }
                catch (OperationCanceledException) { break; }
                catch (ObjectDisposedException) { break; }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    // EMFILE/ENFILE (or no memory), though the probe found room: something else took it.
                    _fdReserve?.Release();
                    shortOf = "accept failed: " + e.SocketErrorCode;
                }
                catch (SocketException e) { _log.AcceptFailed(e.SocketErrorCode); continue; }
            }
            // Short of descriptors the connection stays in the backlog and accept would fail again
            // at once; spinning on it would take a core and flood the log. Wait, longer each time,
            // for descriptors to come back, the reserve handed back to the process meanwhile.
            backoffMs = Math.Clamp(backoffMs * 2, FirstBackoffMs, _acceptMaxBackoffMs);
            _log.AcceptBackingOff(shortOf, backoffMs, Interlocked.Increment(ref _acceptBackoffs));
            try { await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>The accept-time checks; a connection that passes them is served on its own task.</summary>
    private void Admit(Socket s)
    {
        var peer = s.RemoteEndPoint as IPEndPoint;
        if (!IsAllowed(peer)) { RefuseRaw(s, peer, Refusal.AddressNotAllowed, Errno.EACCES, "address not allowed (auth-allow)"); return; }
        var addr = Normalize(peer!.Address);
        Refusal? full = null;
        lock (_admit)
        {
            int mine = _perAddress.GetValueOrDefault(addr);
            if (_admitted >= _maxConnections) full = Refusal.TooManyConnections;
            else if (mine >= _maxPerAddress) full = Refusal.TooManyFromAddress;
            else { _admitted++; _perAddress[addr] = mine + 1; }
        }
        if (full is { } why)
        {
            RefuseRaw(s, peer, why, Errno.EAGAIN, why == Refusal.TooManyConnections
                ? $"too many connections to this brick ({_maxConnections}, max-connections)"
                : $"too many connections from {addr} ({_maxPerAddress}, max-connections-per-address)");
            return;
        }
        _ = ServeSocketAsync(s, peer, addr);
    }

    /// <summary>An IPv4 peer of a dual-stack socket as plain IPv4, so it is counted and named as one address.</summary>
    internal static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private async Task ServeSocketAsync(Socket s, IPEndPoint peer, IPAddress addr)
    {
        try
        {
            var (fc, verdict) = await OpenTransportAsync(s, peer).ConfigureAwait(false);
            if (fc is null) return;
            var conn = new ServerConnection(this, fc, verdict);
            lock (_sessions)
            {
                // A shutdown that began during the TLS handshake has already closed what it knew of.
                if (_stop.IsCancellationRequested) { fc.Close("server shutting down"); return; }
                _connections.Add(conn);
            }
            await conn.RunAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A bug, not the client's fault; still, one connection must never take the brick down.
            _log.Failed(e, peer.ToString());
            s.Dispose();
        }
        finally
        {
            lock (_admit)
            {
                _admitted--;
                if (_perAddress[addr] is 1) _perAddress.Remove(addr);
                else _perAddress[addr]--;
            }
        }
    }

    /// <summary>
    /// Settles the transport: the first bytes tell a TLS client (a handshake record, 0x16 0x03) from a
    /// plaintext one (a frame length, which for a Hello is far below 0x0316). A client in the other
    /// mode than the brick gets a plaintext refusal: a plaintext client reads it as its Welcome, a TLS
    /// client's transport finds it among the bytes that broke its TLS handshake.
    /// </summary>
    private async Task<(FrameConnection?, TlsConfig.PeerVerdict?)> OpenTransportAsync(Socket s, IPEndPoint peer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(HandshakeTimeout);
        SslStream? ssl = null;
        try
        {
            FrameConnection.Tune(s);
            var tls = await TlsConfig.LooksLikeTlsAsync(s, cts.Token).ConfigureAwait(false);
            if (tls is null) { s.Dispose(); return (null, null); }   // closed before saying anything
            if (Tls is null)
            {
                if (tls == true)
                {
                    RefuseRaw(s, peer, Refusal.TlsNotEnabled, Errno.EPROTO, "this brick does not use TLS; connect without tls-cert, tls-key and tls-ca");
                    return (null, null);
                }
                // Big request bodies (writes) are served from the buffer they were received in (ServerCall.TakeBody), or
                // their data from a pipe it was spliced into from the socket (write-splice).
                return (new FrameConnection(s, null, ReceiveThreads, keepBigBodies: true, WriteSplice), null);
            }
            if (tls == false)
            {
                RefuseRaw(s, peer, Refusal.TlsRequired, Errno.EPROTO, "this brick requires TLS; give the client tls-cert, tls-key and tls-ca");
                return (null, null);
            }
            var verdict = new TlsConfig.PeerVerdict();
            ssl = new SslStream(new NetworkStream(s, ownsSocket: false), leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsServerAsync(Tls.ServerOptions(verdict), cts.Token).ConfigureAwait(false);
            return (new FrameConnection(s, ssl), verdict);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            _log.RefusingCounted(peer.ToString(), $"no {(ssl is null ? "hello" : "TLS handshake")} within handshake-timeout ({HandshakeTimeout.TotalSeconds:0.###} s)",
                                 CountRefusal(Refusal.HandshakeTimeout));
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (ssl is not null) _log.RefusingCounted(peer.ToString(), "TLS handshake failed: " + e.Message, CountRefusal(Refusal.TlsFailed));
            else _log.Ended(peer.ToString(), e.Message);
        }
        ssl?.Dispose();
        s.Dispose();
        return (null, null);
    }

    /// <summary>
    /// Refuses a connection before any session exists: one plaintext Welcome with the errno and the
    /// reason (a non-blocking send of a few dozen bytes into an empty socket buffer), then close.
    /// </summary>
    private void RefuseRaw(Socket s, IPEndPoint? peer, Refusal why, Errno e, string reason)
    {
        _log.RefusingCounted(peer?.ToString() ?? "?", reason, CountRefusal(why));
        var w = new BodyWriter();
        Handshake.Write(w, Handshake.Welcome.Refusal(e, reason));
        var frame = new byte[FrameHeader.Size + w.Length];
        new FrameHeader(FrameType.Welcome, FrameFlags.None, FopOp.None, 0, w.Length).Write(frame);
        w.Written.CopyTo(frame.AsSpan(FrameHeader.Size));
        try
        {
            s.Blocking = false;
            s.Send(frame, SocketFlags.None, out _);
            s.Shutdown(SocketShutdown.Send);
        }
        catch (Exception x) when (x is SocketException or ObjectDisposedException) { }
        s.Dispose();
    }
}
