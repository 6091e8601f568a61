using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.Json.Nodes;
using Graft.Management.Volumes;
using Graft.Xlators.Protocol.Transport;
using Microsoft.Extensions.Logging;

namespace Graft.Management.Protocol;

/// <summary>Who is on the other end of a control connection.</summary>
public sealed record ControlSession(IPAddress Remote, bool Authenticated);

/// <summary>What the daemon does with requests (the server only frames, authenticates and dispatches).</summary>
public interface IControlHandler
{
    /// <summary>Answers one request; a <see cref="ManagementError"/> becomes an error reply.</summary>
    Task<JsonNode?> HandleAsync(ControlSession session, string op, JsonObject request, CancellationToken ct);

    /// <summary>
    /// Serves a volfile subscription: the first message is the reply (the volfile), then pushes, until
    /// <paramref name="ct"/> ends (the client went away or the daemon stops).
    /// </summary>
    Task SubscribeAsync(ControlSession session, JsonObject request, Func<JsonObject, Task> send, CancellationToken ct);
}

/// <summary>
/// The daemon's control endpoint: TCP, <see cref="Frames"/>, the <see cref="Handshake"/>, then requests
/// answered one at a time per connection. Administrative requests need an authenticated session (the
/// cluster secret); an unauthenticated one may only subscribe to volfiles (the handler checks auth.allow).
/// A malformed frame or a handshake that does not finish in <see cref="HandshakeTimeout"/> closes that
/// connection only. With TLS every connection, whatever it asks, first proves a client certificate of
/// the cluster's CA (see <see cref="StartTlsAsync"/>); the handshake and everything after it travel
/// inside TLS.
/// </summary>
public sealed partial class ManagementServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly byte[] _secret;
    private readonly TlsConfig? _tls;
    private readonly IControlHandler _handler;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly HashSet<Task> _connections = [];

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>An idle connection (no request) is closed after this long; subscriptions are kept alive by pings.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public ManagementServer(IPEndPoint endpoint, byte[] secret, IControlHandler handler, ILogger log, TlsConfig? tls = null)
    {
        _secret = secret;
        _tls = tls;
        _handler = handler;
        _log = log;
        _listener = new TcpListener(endpoint);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start(128);
        _accept = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient c;
            try { c = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            catch (ObjectDisposedException) { return; }
            var t = Task.Run(() => ServeAsync(c));
            lock (_connections) _connections.Add(t);
            _ = t.ContinueWith(done => { lock (_connections) _connections.Remove(done); }, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(TcpClient c)
    {
        using var _ = c;
        c.NoDelay = true;
        var remote = ((IPEndPoint)c.Client.RemoteEndPoint!).Address;
        if (remote.IsIPv4MappedToIPv6) remote = remote.MapToIPv4();
        Stream stream = c.GetStream();
        try
        {
            if (_tls is not null)
            {
                var secured = await StartTlsAsync(c.Client, stream, remote).ConfigureAwait(false);
                if (secured is null) return;
                stream = secured;
            }
            var session = await OpenAsync(stream, remote).ConfigureAwait(false);
            if (session is null) return;
            while (!_stop.IsCancellationRequested)
            {
                JsonObject? req;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    idle.CancelAfter(IdleTimeout);
                    req = await Frames.ReadAsync(stream, idle.Token).ConfigureAwait(false);
                }
                if (req is null) return;
                var op = req["op"]?.GetValue<string>() ?? "";
                if (op == "volfile.subscribe")
                {
                    await SubscribeAsync(stream, session, req).ConfigureAwait(false);
                    return;
                }
                JsonObject reply;
                if (!session.Authenticated && op != "daemon.info")
                    reply = Error($"{op}: this connection is not authenticated (give the cluster secret: --secret-file, default the daemon's state dir)");
                else
                {
                    try { reply = new JsonObject { ["ok"] = true, ["result"] = await _handler.HandleAsync(session, op, req, _stop.Token).ConfigureAwait(false) }; }
                    catch (ManagementError e) { reply = Error(e.Message); }
                    catch (Store.StoreUnavailableException e) { reply = Error("the cluster store is unavailable: " + e.Message); }
                }
                await Frames.WriteAsync(stream, reply, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (InvalidDataException e) { LogBadFrame(_log, remote, e.Message); }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        catch (Exception e) when (e is InvalidOperationException or FormatException or System.Text.Json.JsonException)
        {
            LogBadFrame(_log, remote, e.Message); // a field of the wrong JSON type
        }
        finally { await stream.DisposeAsync().ConfigureAwait(false); }
    }

    /// <summary>
    /// The TLS daemon's opening: a plaintext hello that says TLS follows (so a client without TLS can
    /// say what is wrong instead of waiting), then the client's TLS handshake, TLS 1.3 only, with a
    /// client certificate our CA signed. A client that answers in plaintext, or with a certificate we do
    /// not trust, gets an error frame it can read (in plaintext, or inside TLS) and is closed. Returns
    /// the TLS stream, or null when the connection was refused or ended.
    /// </summary>
    private async Task<Stream?> StartTlsAsync(Socket socket, Stream plain, IPAddress remote)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        bound.CancelAfter(HandshakeTimeout);
        await Frames.WriteAsync(plain, new JsonObject { ["hello"] = "graft-mgmt", ["version"] = Handshake.Version, ["tls"] = true }, bound.Token).ConfigureAwait(false);
        var tls = await TlsConfig.LooksLikeTlsAsync(socket, bound.Token).ConfigureAwait(false);
        if (tls is null) return null;
        if (tls == false)
        {
            LogTlsRefused(_log, remote, "it answered in plaintext");
            await Frames.WriteAsync(plain, Error(RequiresTls), bound.Token).ConfigureAwait(false);
            return null;
        }
        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        var verdict = new TlsConfig.PeerVerdict();
        try
        {
            await ssl.AuthenticateAsServerAsync(_tls!.ServerOptions(verdict), bound.Token).ConfigureAwait(false);
            if (!verdict.Trusted)
            {
                LogTlsRefused(_log, remote, "client " + verdict.Problem);
                await Frames.WriteAsync(ssl, Error($"client {verdict.Problem} (the daemon's tls-ca)"), bound.Token).ConfigureAwait(false);
                await ssl.DisposeAsync().ConfigureAwait(false);
                return null;
            }
            return ssl;
        }
        catch (AuthenticationException e)
        {
            LogTlsRefused(_log, remote, "TLS handshake failed: " + e.Message);
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>What a client without TLS is told by a TLS daemon (older clients read it as their welcome).</summary>
    public const string RequiresTls =
        "this daemon requires TLS: give a certificate of the cluster's CA (graft: --tls-cert, --tls-key, --tls-ca or --tls; mount: -o tls-cert=,tls-key=,tls-ca= or -o tls)";

    public static JsonObject Error(string message) => new() { ["ok"] = false, ["error"] = message };

    private async Task<ControlSession?> OpenAsync(Stream stream, IPAddress remote)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        bound.CancelAfter(HandshakeTimeout);
        var serverNonce = Handshake.NewNonce();
        await Frames.WriteAsync(stream, new JsonObject
        {
            ["hello"] = "graft-mgmt", ["version"] = Handshake.Version, ["nonce"] = Convert.ToBase64String(serverNonce),
        }, bound.Token).ConfigureAwait(false);
        var auth = await Frames.ReadAsync(stream, bound.Token).ConfigureAwait(false);
        if (auth is null) return null;
        var clientNonce = Handshake.Bytes(auth, "nonce");
        if (clientNonce is not { Length: Handshake.NonceSize }) throw new InvalidDataException("handshake without a client nonce");
        var proof = Handshake.Bytes(auth, "proof");
        bool authenticated = false;
        if (proof is not null)
        {
            if (!Handshake.Matches(Handshake.Proof(_secret, Handshake.ClientRole, serverNonce, clientNonce), proof))
            {
                LogRefused(_log, remote);
                await Frames.WriteAsync(stream, Error("authentication failed: wrong cluster secret"), bound.Token).ConfigureAwait(false);
                return null;
            }
            authenticated = true;
        }
        await Frames.WriteAsync(stream, new JsonObject
        {
            ["welcome"] = true, ["authenticated"] = authenticated,
            ["proof"] = authenticated ? Convert.ToBase64String(Handshake.Proof(_secret, Handshake.ServerRole, serverNonce, clientNonce)) : null,
        }, bound.Token).ConfigureAwait(false);
        return new ControlSession(remote, authenticated);
    }

    private async Task SubscribeAsync(Stream stream, ControlSession session, JsonObject req)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var gate = new SemaphoreSlim(1, 1);
        async Task Send(JsonObject m)
        {
            await gate.WaitAsync(ended.Token).ConfigureAwait(false);
            try { await Frames.WriteAsync(stream, m, ended.Token).ConfigureAwait(false); }
            finally { gate.Release(); }
        }
        // The client sends nothing more: a read that ends (or fails) means it went away.
        var watchClose = Task.Run(async () =>
        {
            try { while (await Frames.ReadAsync(stream, ended.Token).ConfigureAwait(false) is not null) { } }
            catch (Exception e) when (e is IOException or InvalidDataException or OperationCanceledException or ObjectDisposedException or SocketException) { }
            await ended.CancelAsync().ConfigureAwait(false);
        });
        try { await _handler.SubscribeAsync(session, req, Send, ended.Token).ConfigureAwait(false); }
        catch (ManagementError e)
        {
            try { await Frames.WriteAsync(stream, Error(e.Message), ended.Token).ConfigureAwait(false); } catch (IOException) { }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
        await ended.CancelAsync().ConfigureAwait(false);
        stream.Close();
        await watchClose.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try { await _accept.ConfigureAwait(false); } catch (OperationCanceledException) { }
        Task[] open;
        lock (_connections) open = [.. _connections];
        try { await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "control connection from {Remote} dropped: {Problem}")]
    private static partial void LogBadFrame(ILogger log, IPAddress remote, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control connection from {Remote} refused: {Problem}")]
    private static partial void LogTlsRefused(ILogger log, IPAddress remote, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control connection from {Remote} refused: wrong cluster secret")]
    private static partial void LogRefused(ILogger log, IPAddress remote);
}
