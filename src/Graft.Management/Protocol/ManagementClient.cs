using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.Json.Nodes;
using Graft.Management.Volumes;
using Graft.Xlators.Protocol.Transport;

namespace Graft.Management.Protocol;

/// <summary>
/// One control connection to a daemon: the CLI's requests (authenticated with the cluster secret) or a
/// mount's volfile subscription (with or without it). Calls are one at a time. With <see cref="TlsConfig"/>
/// the connection is TLS (a daemon without TLS is refused, as a TLS daemon refuses a client without it).
/// </summary>
public sealed class ManagementClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;

    private ManagementClient(TcpClient tcp, Stream stream, bool authenticated)
    {
        _tcp = tcp;
        _stream = stream;
        Authenticated = authenticated;
    }

    public bool Authenticated { get; }

    /// <summary>"HOST", "HOST:PORT" or "[v6]:PORT" → host and port (default <paramref name="defaultPort"/>).</summary>
    public static (string Host, int Port) ParseAddress(string address, int defaultPort = 24007)
    {
        var a = address.Trim();
        if (a.StartsWith('['))
        {
            var close = a.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) throw new FormatException($"'{address}' is not HOST[:PORT]");
            var host = a[1..close];
            return close + 1 < a.Length && a[close + 1] == ':' ? (host, ParsePort(a[(close + 2)..], address)) : (host, defaultPort);
        }
        var colon = a.LastIndexOf(':');
        if (colon < 0 || a.IndexOf(':') != colon) return (a, defaultPort);
        return (a[..colon], ParsePort(a[(colon + 1)..], address));
    }

    private static int ParsePort(string p, string address) =>
        int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is > 0 and < 65536
            ? n : throw new FormatException($"'{address}': '{p}' is not a port");

    /// <summary>
    /// Connects and authenticates (with <paramref name="secret"/>, or as an anonymous volfile client when
    /// null), over TLS with <paramref name="tls"/>: the daemon's certificate must be of that CA and name
    /// <paramref name="host"/>.
    /// </summary>
    public static async Task<ManagementClient> ConnectAsync(string host, int port, byte[]? secret, TimeSpan timeout, CancellationToken ct = default,
                                                            TlsConfig? tls = null)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            try { await tcp.ConnectAsync(host, port, bound.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"no answer from {host}:{port} within {timeout.TotalSeconds:0.#}s");
            }
            Stream s = tcp.GetStream();
            var hello = await ReadHelloAsync(s, host, port, bound.Token).ConfigureAwait(false);
            var daemonTls = hello["tls"] is JsonValue t && t.TryGetValue<bool>(out var on) && on;
            if (daemonTls && tls is null) throw new ManagementError($"{host}:{port}: {ManagementServer.RequiresTls}");
            if (!daemonTls && tls is not null)
                throw new ManagementError($"{host}:{port}: this daemon does not use TLS; connect without --tls-cert, --tls-key, --tls-ca and --tls (mount: without -o tls...)");
            if (tls is not null)
            {
                s = await StartTlsAsync(s, host, port, tls, bound.Token).ConfigureAwait(false);
                hello = await ReadHelloAsync(s, host, port, bound.Token).ConfigureAwait(false);
            }
            var serverNonce = Handshake.Bytes(hello, "nonce") ?? throw new IOException($"{host}:{port}: handshake without a nonce");
            var clientNonce = Handshake.NewNonce();
            await Frames.WriteAsync(s, new JsonObject
            {
                ["nonce"] = Convert.ToBase64String(clientNonce),
                ["proof"] = secret is null ? null : Convert.ToBase64String(Handshake.Proof(secret, Handshake.ClientRole, serverNonce, clientNonce)),
            }, bound.Token).ConfigureAwait(false);
            var welcome = await Frames.ReadAsync(s, bound.Token).ConfigureAwait(false) ?? throw new IOException($"{host}:{port} closed the connection");
            if (welcome["error"] is { } err) throw new ManagementError($"{host}:{port}: {err.GetValue<string>()}");
            var authenticated = welcome["authenticated"]?.GetValue<bool>() == true;
            if (secret is not null)
            {
                // The daemon proves it holds the secret too: a CLI never talks to an impostor.
                if (!authenticated || !Handshake.Matches(Handshake.Proof(secret, Handshake.ServerRole, serverNonce, clientNonce), Handshake.Bytes(welcome, "proof")))
                    throw new ManagementError($"{host}:{port} could not prove it holds the cluster secret");
            }
            return new ManagementClient(tcp, s, authenticated);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>The daemon's hello; an error frame in its place (a refusal) throws its message.</summary>
    private static async Task<JsonObject> ReadHelloAsync(Stream s, string host, int port, CancellationToken ct)
    {
        var hello = await Frames.ReadAsync(s, ct).ConfigureAwait(false) ?? throw new IOException($"{host}:{port} closed the connection");
        if (hello["error"] is JsonValue err) throw new ManagementError($"{host}:{port}: {err.GetValue<string>()}");
        if (hello["hello"]?.GetValue<string>() != "graft-mgmt") throw new IOException($"{host}:{port} is not a graft daemon");
        return hello;
    }

    private static async Task<Stream> StartTlsAsync(Stream plain, string host, int port, TlsConfig tls, CancellationToken ct)
    {
        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        var verdict = new TlsConfig.PeerVerdict();
        try
        {
            await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host, verdict), ct).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new ManagementError(verdict.Problem is { } p
                ? $"{host}:{port}: the daemon's {p} (tls-ca; its certificate must name {host})"
                : $"{host}:{port}: TLS handshake failed: {e.Message}");
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends a request and returns its result; an error reply throws <see cref="ManagementError"/> with the daemon's message.</summary>
    public async Task<JsonNode?> CallAsync(string op, JsonObject? args = null, CancellationToken ct = default)
    {
        var req = args ?? new JsonObject();
        req["op"] = op;
        await Frames.WriteAsync(_stream, req, ct).ConfigureAwait(false);
        var reply = await Frames.ReadAsync(_stream, ct).ConfigureAwait(false) ?? throw new IOException("the daemon closed the connection");
        return Result(reply);
    }

    private static JsonNode? Result(JsonObject reply)
    {
        if (reply["ok"]?.GetValue<bool>() != true) throw new ManagementError(reply["error"]?.GetValue<string>() ?? "the daemon refused the request");
        return reply["result"];
    }

    /// <summary>Starts a subscription; returns the first reply's result. Then read pushes with <see cref="ReadPushAsync"/>.</summary>
    public async Task<JsonObject> SubscribeAsync(JsonObject args, CancellationToken ct)
    {
        args["op"] = "volfile.subscribe";
        await Frames.WriteAsync(_stream, args, ct).ConfigureAwait(false);
        var reply = await Frames.ReadAsync(_stream, ct).ConfigureAwait(false) ?? throw new IOException("the daemon closed the connection");
        return Result(reply) as JsonObject ?? throw new InvalidDataException("subscription reply without a result");
    }

    /// <summary>The next push, or null when the daemon closed the connection.</summary>
    public Task<JsonObject?> ReadPushAsync(CancellationToken ct) => Frames.ReadAsync(_stream, ct);

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
