using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Server;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>Certificates for one test class, in its own temp directory.</summary>
public sealed class CertificateFixture : IDisposable
{
    public CertificateFixture() => Certs = TestCertificates.Create(Path.Combine(Path.GetTempPath(), "graft-tls-tests", Guid.NewGuid().ToString("n")));
    internal TestCertificates Certs { get; }
    public void Dispose() => Directory.Delete(Certs.Dir, recursive: true);
}

/// <summary>
/// A brick with tls-cert/tls-key/tls-ca serves every fop over TLS 1.3 to a client whose certificate
/// its CA signed; such a session is trusted (root acts as root) without any secret.
/// </summary>
public class ATlsBrickServesClientsItsCaSigned(CertificateFixture f) : IClassFixture<CertificateFixture>
{
    [Fact]
    public async Task Every_fop_and_large_io_round_trip_over_tls_and_root_stays_root()
    {
        await using var brick = await InProcessBrick.StartAsync(f.Certs.ServerOptions);
        var (g, c) = await brick.ConnectAsync(f.Certs.ClientOptions());
        await FopScenario.RunAsync(g.Top, g.Inodes);

        var fd = await EveryFopOverLoopback.LargeIoRoundTripAsync(g, c);
        // Trusted by its certificate: the file is root's, not squashed to 65534.
        Assert.Equal(0u, (await c.FstatAsync(FopContext.Root(), fd)).Value.Uid);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }
}

/// <summary>
/// A client in the other transport mode than the brick, or whose certificate (or whose view of the
/// brick's certificate) does not check out, is refused at once with an errno and a reason it can
/// report: the graph's setup failure says it, so starting stops waiting instead of retrying for the
/// whole child-up bound. The brick counts each kind of refusal it makes (a client that rejects the
/// brick's certificate does so after the brick's side of the TLS 1.3 handshake is done: the brick
/// only sees the connection end).
/// </summary>
public class AClientThatFailsTheTlsChecksIsRefusedWithAReason(CertificateFixture f) : IClassFixture<CertificateFixture>
{
    public enum Case { PlaintextClientToTlsBrick, TlsClientToPlaintextBrick, ClientCertificateOfAnotherCa, BrickCertificateOfAnotherCa, BrickCertificateForAnotherName }

    [Theory]
    [InlineData(Case.PlaintextClientToTlsBrick, Errno.EPROTO, "requires TLS", ProtocolServer.Refusal.TlsRequired)]
    [InlineData(Case.TlsClientToPlaintextBrick, Errno.EPROTO, "does not use TLS", ProtocolServer.Refusal.TlsNotEnabled)]
    [InlineData(Case.ClientCertificateOfAnotherCa, Errno.EACCES, "not signed by the trusted CA", ProtocolServer.Refusal.UntrustedCertificate)]
    [InlineData(Case.BrickCertificateOfAnotherCa, Errno.EACCES, "brick's certificate 'CN=brick' rejected: not signed by the trusted CA", null)]
    [InlineData(Case.BrickCertificateForAnotherName, Errno.EACCES, "brick's certificate 'CN=brick' rejected: it is not issued for this host name", null)]
    public async Task The_client_reports_why_and_the_brick_counts_it(Case c, Errno errno, string reason, ProtocolServer.Refusal? counted)
    {
        var c1 = f.Certs;
        await using var brick = await InProcessBrick.StartAsync(c == Case.TlsClientToPlaintextBrick ? [] : c1.ServerOptions, secret: false);
        var options = c switch
        {
            Case.PlaintextClientToTlsBrick => [],
            Case.ClientCertificateOfAnotherCa => c1.ClientOptions(c1.Stranger),
            Case.BrickCertificateOfAnotherCa => c1.ClientOptions(ca: c1.OtherCa),
            Case.BrickCertificateForAnotherName => new Dictionary<string, string>(c1.ClientOptions()) { ["tls-server-name"] = "brick.example.org" },
            _ => c1.ClientOptions(),
        };
        var g = brick.NewClientGraph(options);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None), "a refused client came up");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"the refusal was not reported: waited {started.Elapsed.TotalSeconds:0} s");
        var client = (ProtocolClient)g.Top;
        Assert.Equal(errno, client.LastConnectError);
        Assert.Contains(reason, client.LastConnectMessage);
        Assert.Contains(reason, g.SetupFailure);
        await g.StopAsync();
        // At least once: the client may have tried again before it was stopped.
        if (counted is { } kind) await ClientGraphs.Until(() => brick.Server.Refused(kind) >= 1, $"the brick counted {kind}");
        Assert.Equal(0, brick.Server.SessionCount);
    }
}
