using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A hand-driven connection to a brick: frames written and read one by one, with a handshake whose
/// every field the test chooses (whose session key, which secret, which resume token), plaintext or
/// TLS. For tests that act as a client the real one would never be. Shared (linked) with the
/// end-to-end tests.
/// </summary>
internal sealed class RawClient : IAsyncDisposable
{
    private readonly byte[] _buf = new byte[64 << 10];
    private ReadOnlySequence<byte> _pending = ReadOnlySequence<byte>.Empty;

    private RawClient(Socket socket, Stream stream) { Socket = socket; Stream = stream; }

    public Socket Socket { get; }
    public Stream Stream { get; }

    public static async Task<RawClient> ConnectAsync(int port, string? bindAddress = null)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (bindAddress is not null) s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(bindAddress), 0));
        await s.ConnectAsync("127.0.0.1", port);
        return new RawClient(s, new NetworkStream(s, ownsSocket: false));
    }

    /// <summary>A TLS 1.3 connection presenting <paramref name="client"/>; the brick's certificate is checked against <paramref name="ca"/>.</summary>
    public static async Task<RawClient> ConnectTlsAsync(int port, (string Cert, string Key) client, string ca)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync("127.0.0.1", port);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        var cas = new X509Certificate2Collection();
        cas.ImportFromPemFile(ca);
        policy.CustomTrustStore.AddRange(cas);
        var ssl = new SslStream(new NetworkStream(s, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificates = [X509Certificate2.CreateFromPemFile(client.Cert, client.Key)],
            CertificateChainPolicy = policy,
            RemoteCertificateValidationCallback = (_, _, _, errors) => errors == SslPolicyErrors.None,
        });
        return new RawClient(s, ssl);
    }

    public static byte[] Frame(FrameType t, FopOp op, ulong id, BodyWriter? w, FrameFlags flags = FrameFlags.None)
    {
        int n = w?.TotalLength ?? 0;
        var b = new byte[FrameHeader.Size + n];
        new FrameHeader(t, flags, op, id, n).Write(b);
        w?.Written.CopyTo(b.AsSpan(FrameHeader.Size));
        w?.Bulk.Span.CopyTo(b.AsSpan(FrameHeader.Size + (w?.Length ?? 0)));
        return b;
    }

    public async Task SendAsync(byte[] bytes) { await Stream.WriteAsync(bytes); await Stream.FlushAsync(); }

    public Task SendAsync(FrameType t, BodyWriter? w) => SendAsync(Frame(t, FopOp.None, 0, w));

    /// <summary>The next frame, or null when the brick closed (or reset) the connection; bounded.</summary>
    public async Task<(FrameHeader Header, byte[] Body)?> ReadFrameAsync(int timeoutMs = 10000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        while (true)
        {
            var seq = _pending;
            if (FrameHeader.TryRead(ref seq, out var h, out var body, out var err))
            {
                var copy = body.ToArray();
                _pending = new ReadOnlySequence<byte>(seq.ToArray());
                return (h, copy);
            }
            Assert.Equal(FrameError.None, err);
            int n;
            try { n = await Stream.ReadAsync(_buf, cts.Token); }
            catch (IOException) { return null; }
            if (n == 0) return null;
            _pending = new ReadOnlySequence<byte>([.. _pending.ToArray(), .. _buf.AsSpan(0, n)]);
        }
    }

    /// <summary>True once the brick has closed the connection (bounded wait).</summary>
    public async Task<bool> ClosedByBrickAsync(int timeoutMs = 10000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            while (await Stream.ReadAsync(_buf, cts.Token) > 0) { }
            return true;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>
    /// Hello (with the given session key), read the Challenge, Auth (proving <paramref name="secret"/>
    /// when given, presenting <paramref name="token"/>), and the brick's Welcome, or null when it
    /// closed without one.
    /// </summary>
    public async Task<Handshake.Welcome?> HandshakeAsync(string brick, byte[]? secret, byte[]? token = null,
        Guid? identity = null, long generation = 1, Guid? instance = null)
    {
        var hello = new Handshake.Hello(Handshake.Version, identity ?? Guid.NewGuid(), generation, instance ?? Guid.NewGuid(), brick, Handshake.NewNonce());
        var w = new BodyWriter();
        Handshake.Write(w, hello);
        await SendAsync(FrameType.Hello, w);
        var f = await ReadFrameAsync();
        if (f is null) return null;
        if (f.Value.Header.Type == FrameType.Welcome) return Handshake.ReadWelcome(f.Value.Body);
        Assert.Equal(FrameType.Challenge, f.Value.Header.Type);
        var challenge = Handshake.ReadChallenge(f.Value.Body)!;
        w.Reset();
        var proof = secret is null ? [] : Handshake.Proof(secret, Handshake.ClientRole, hello, challenge.ServerNonce);
        Handshake.Write(w, new Handshake.Auth(proof, token ?? []));
        await SendAsync(FrameType.Auth, w);
        f = await ReadFrameAsync();
        if (f is null) return null;
        Assert.Equal(FrameType.Welcome, f.Value.Header.Type);
        return Handshake.ReadWelcome(f.Value.Body);
    }

    private ulong _lastId;

    /// <summary>One request, and its reply (the next frame must be it).</summary>
    public async Task<FopReply> CallAsync(FopRequest q)
    {
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        var id = ++_lastId;
        await SendAsync(Frame(FrameType.Request, q.Op, id, w, flags));
        var f = await ReadFrameAsync();
        Assert.True(f is { Header.Type: FrameType.Reply }, $"no reply to {q.Op}");
        Assert.Equal(id, f.Value.Header.Id);
        Assert.True(FopCodec.TryReadReply(q.Op, f.Value.Header.Flags, f.Value.Body, out var p), $"malformed {q.Op} reply");
        return p;
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        Socket.Dispose();
    }
}
