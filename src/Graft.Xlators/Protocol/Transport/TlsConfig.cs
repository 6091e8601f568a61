using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// One side's TLS material, loaded from PEM files at init (a bad file is a configuration error
/// then, not a connect failure later): its certificate and key, and the CA that must have signed the
/// peer's certificate. Both sides speak TLS 1.3 only; the brick requires a client certificate; each
/// side trusts nothing but the given CA (never the system store) and checks no revocation lists.
/// </summary>
public sealed class TlsConfig
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1"), ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private readonly X509Certificate2Collection _authorities;
    private readonly SslStreamCertificateContext _own;

    private TlsConfig(X509Certificate2 certificate, X509Certificate2Collection chain, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        _authorities = authorities;
        // offline: never fetch missing intermediates from the network at connect time.
        _own = SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }

    /// <summary>This side's certificate (with its private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Loads <paramref name="certFile"/> (the certificate, optionally followed by its intermediates), its key, and the CA file.</summary>
    /// <exception cref="ArgumentException">A file is missing, unreadable, or not the PEM it should be.</exception>
    public static TlsConfig Load(string what, string? certFile, string? keyFile, string? caFile)
    {
        if (certFile is null || keyFile is null || caFile is null)
            throw new ArgumentException($"{what}: TLS needs all three of tls-cert, tls-key and tls-ca");
        try
        {
            var cert = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            if (!cert.HasPrivateKey) throw new ArgumentException($"{what}: {keyFile} is not the key of {certFile}");
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certFile);
            var chain = new X509Certificate2Collection();
            foreach (var c in all) if (c.Thumbprint != cert.Thumbprint) chain.Add(c);
            var cas = new X509Certificate2Collection();
            cas.ImportFromPemFile(caFile);
            if (cas.Count == 0) throw new ArgumentException($"{what}: {caFile} holds no certificate");
            return new TlsConfig(cert, chain, cas);
        }
        catch (CryptographicException e) { throw new ArgumentException($"{what}: cannot load TLS files ({certFile}, {keyFile}, {caFile}): {e.Message}", e); }
        catch (IOException e) { throw new ArgumentException($"{what}: cannot read TLS files: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new ArgumentException($"{what}: cannot read TLS files: {e.Message}", e); }
    }

    /// <summary>A chain policy that trusts only our CA, for a peer certificate of the given purpose.</summary>
    private X509ChainPolicy PolicyFor(Oid purpose)
    {
        var p = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        p.CustomTrustStore.AddRange(_authorities);
        p.ApplicationPolicy.Add(purpose);
        return p;
    }

    /// <summary>
    /// The brick's side. The client's certificate is required and checked against our CA, but the
    /// handshake is allowed to finish either way and <paramref name="verdict"/> says whether it
    /// passed: the brick then refuses an untrusted client with a Welcome it can read and report,
    /// instead of a bare TLS alert, and serves nothing to it.
    /// </summary>
    public SslServerAuthenticationOptions ServerOptions(PeerVerdict verdict) => new()
    {
        ServerCertificateContext = _own,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = PolicyFor(ClientAuth),
        RemoteCertificateValidationCallback = (_, cert, chain, errors) => { verdict.Set(cert, chain, errors); return true; },
    };

    /// <summary>The client's side: the brick must present a certificate our CA signed, for <paramref name="serverName"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(string serverName, PeerVerdict verdict) => new()
    {
        TargetHost = serverName,
        ClientCertificateContext = _own,
        EnabledSslProtocols = SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = PolicyFor(ServerAuth),
        RemoteCertificateValidationCallback = (_, cert, chain, errors) => verdict.Set(cert, chain, errors),
    };

    /// <summary>
    /// Whether the peer's first bytes are a TLS handshake record (0x16 0x03): true, false for anything
    /// else (a plaintext frame length), null when the peer closed first. Peeks: the bytes stay for the
    /// TLS stream or the plaintext reader. Shared by the bricks and the management daemon.
    /// </summary>
    /// <remarks>
    /// Where <see cref="SocketReadiness"/> works, the peek is a non-blocking one that waits there for the
    /// first bytes: a ReceiveAsync would put the socket in .NET's socket engine for good, and every packet
    /// of a plaintext connection would then wake the engine's thread and a pool thread for nothing.
    /// </remarks>
    public static async Task<bool?> LooksLikeTlsAsync(Socket s, CancellationToken ct)
    {
        if (!SocketReadiness.Supported) return await PeekOnEngineAsync(s, ct).ConfigureAwait(false);
        var first = new byte[2];
        bool blocking = s.Blocking;
        s.Blocking = false;
        try
        {
            while (true)
            {
                int n = s.Receive(first, SocketFlags.Peek, out var err);
                if (err == SocketError.WouldBlock)
                {
                    if (!await SocketReadiness.WaitAsync(s, write: false, ct).ConfigureAwait(false))
                    {
                        ct.ThrowIfCancellationRequested();
                        throw new ObjectDisposedException(nameof(Socket));
                    }
                    continue;
                }
                if (err != SocketError.Success) throw new SocketException((int)err);
                if (n == 0) return null;
                if (first[0] != 0x16) return false;
                if (n >= 2) return first[1] == 0x03;
                // Only one byte has arrived (the socket stays readable while it waits): rare, wait a little.
                await Task.Delay(5, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            // The TLS stream's NetworkStream wants a blocking socket; a plaintext connection sets its own mode.
            try { s.Blocking = blocking; } catch (ObjectDisposedException) { }
        }
    }

    private static async Task<bool?> PeekOnEngineAsync(Socket s, CancellationToken ct)
    {
        var first = new byte[2];
        while (true)
        {
            int n = await s.ReceiveAsync(first, SocketFlags.Peek, ct).ConfigureAwait(false);
            if (n == 0) return null;
            if (first[0] != 0x16) return false;
            if (n >= 2) return first[1] == 0x03;
            // Only one byte has arrived (a peek returns at once with what is there): rare, wait a little.
            await Task.Delay(5, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The outcome of checking one peer's certificate.</summary>
    public sealed class PeerVerdict
    {
        /// <summary>Why the peer's certificate is not trusted, or null when it is (or was never checked).</summary>
        public string? Problem { get; private set; }
        public bool Trusted { get; private set; }
        /// <summary>The trusted certificate's principal: "cert:" and its SHA-256 fingerprint.</summary>
        public string? Principal { get; private set; }
        public string? Subject { get; private set; }

        internal bool Set(X509Certificate? cert, X509Chain? chain, SslPolicyErrors errors)
        {
            Trusted = errors == SslPolicyErrors.None && cert is not null;
            Subject = cert?.Subject;
            if (Trusted)
            {
                Principal = "cert:" + cert!.GetCertHashString(HashAlgorithmName.SHA256);
                return true;
            }
            Problem = Describe(cert, chain, errors);
            return false;
        }

        private static string Describe(X509Certificate? cert, X509Chain? chain, SslPolicyErrors errors)
        {
            if (cert is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return "no certificate was presented";
            var parts = new List<string>();
            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) parts.Add("it is not issued for this host name");
            if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                var why = chain?.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError)
                               .Select(s => s.Status == X509ChainStatusFlags.UntrustedRoot || s.Status == X509ChainStatusFlags.PartialChain
                                   ? "not signed by the trusted CA" : s.StatusInformation.Trim())
                               .Distinct().ToList();
                parts.Add(why is { Count: > 0 } ? string.Join("; ", why) : "its chain does not lead to the trusted CA");
            }
            return $"certificate '{cert.Subject}' rejected: {string.Join("; ", parts)}";
        }
    }
}
