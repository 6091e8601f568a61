using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// The shared secret test bricks and their clients prove unless a test is about its absence (an
/// unauthenticated session is root-squashed, and most tests act as root). One file beside the test
/// assembly, mode 0600. Shared (linked) with the end-to-end tests.
/// </summary>
internal static class TestSecret
{
    private static readonly Lazy<string> _file = new(Create);

    public static string File => _file.Value;
    public static byte[] Bytes => Handshake.LoadSecret(File);

    private static string Create()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "test-secret");
        if (System.IO.File.Exists(path)) return path;
        // Written aside and renamed: another test process may be reading it at the same moment.
        var tmp = path + "." + Environment.ProcessId;
        System.IO.File.WriteAllText(tmp, "graft test secret " + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)) + "\n");
        System.IO.File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        System.IO.File.Move(tmp, path, overwrite: true);
        return path;
    }
}

/// <summary>
/// PEM certificates made for one test with <see cref="CertificateRequest"/>: a CA; a brick certificate
/// for 127.0.0.1 and localhost; two client certificates it signed; and a client certificate from
/// another CA that the brick must not trust.
/// </summary>
internal sealed class TestCertificates
{
    private TestCertificates(string dir) { Dir = dir; }

    public string Dir { get; }
    public string Ca => P("ca.pem");
    public string OtherCa => P("other-ca.pem");
    public (string Cert, string Key) Brick => (P("brick.pem"), P("brick.key"));
    public (string Cert, string Key) Client => (P("client.pem"), P("client.key"));
    public (string Cert, string Key) Client2 => (P("client2.pem"), P("client2.key"));
    /// <summary>A client certificate signed by <see cref="OtherCa"/>.</summary>
    public (string Cert, string Key) Stranger => (P("stranger.pem"), P("stranger.key"));

    private string P(string name) => Path.Combine(Dir, name);

    /// <summary>`graft brick` arguments for TLS with these files.</summary>
    public string[] BrickArgs => ["--tls-cert", Brick.Cert, "--tls-key", Brick.Key, "--tls-ca", Ca];

    /// <summary>protocol/server options for TLS with these files.</summary>
    public Dictionary<string, string> ServerOptions => new() { ["tls-cert"] = Brick.Cert, ["tls-key"] = Brick.Key, ["tls-ca"] = Ca };

    /// <summary>protocol/client options for TLS as <paramref name="who"/> (default: <see cref="Client"/>), trusting <paramref name="ca"/> (default: ours).</summary>
    public Dictionary<string, string> ClientOptions((string Cert, string Key)? who = null, string? ca = null)
    {
        var (cert, key) = who ?? Client;
        return new() { ["tls-cert"] = cert, ["tls-key"] = key, ["tls-ca"] = ca ?? Ca };
    }

    public static TestCertificates Create(string dir)
    {
        Directory.CreateDirectory(dir);
        var t = new TestCertificates(dir);
        var (ca, caKey) = Authority("CN=Graft Test CA");
        var (other, otherKey) = Authority("CN=Some Other CA");
        Write(t.Ca, ca.ExportCertificatePem());
        Write(t.OtherCa, other.ExportCertificatePem());
        Leaf(t.Brick, "CN=brick", ca, caKey, server: true);
        Leaf(t.Client, "CN=client one", ca, caKey, server: false);
        Leaf(t.Client2, "CN=client two", ca, caKey, server: false);
        Leaf(t.Stranger, "CN=stranger", other, otherKey, server: false);
        return t;
    }

    private static readonly DateTimeOffset NotBefore = DateTimeOffset.UtcNow.AddDays(-1), NotAfter = DateTimeOffset.UtcNow.AddDays(30);

    private static (X509Certificate2, ECDsa) Authority(string subject)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return (req.CreateSelfSigned(NotBefore, NotAfter.AddDays(1)), key);
    }

    private static void Leaf((string Cert, string Key) files, string subject, X509Certificate2 ca, ECDsa caKey, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            req.CertificateExtensions.Add(san.Build());
        }
        var gen = X509SignatureGenerator.CreateForECDsa(caKey);
        using var cert = req.Create(ca.SubjectName, gen, NotBefore, NotAfter, RandomNumberGenerator.GetBytes(16));
        Write(files.Cert, cert.ExportCertificatePem());
        Write(files.Key, key.ExportPkcs8PrivateKeyPem());
    }

    private static void Write(string path, string pem)
    {
        System.IO.File.WriteAllText(path, pem + "\n");
        System.IO.File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
