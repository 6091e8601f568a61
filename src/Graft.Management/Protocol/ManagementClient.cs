using System.Net.Sockets;
using System.Text.Json.Nodes;
using Graft.Management.Volumes;

namespace Graft.Management.Protocol;

/// <summary>
/// One control connection to a daemon: the CLI's requests (authenticated with the cluster secret) or a
/// mount's volfile subscription (with or without it). Calls are one at a time.
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

    /// <summary>Connects and authenticates (with <paramref name="secret"/>, or as an anonymous volfile client when null).</summary>
    public static async Task<ManagementClient> ConnectAsync(string host, int port, byte[]? secret, TimeSpan timeout, CancellationToken ct = default)
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
            var s = tcp.GetStream();
            var hello = await Frames.ReadAsync(s, bound.Token).ConfigureAwait(false)
                        ?? throw new IOException($"{host}:{port} closed the connection");
            if (hello["hello"]?.GetValue<string>() != "graft-mgmt") throw new IOException($"{host}:{port} is not a graft daemon");
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

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
