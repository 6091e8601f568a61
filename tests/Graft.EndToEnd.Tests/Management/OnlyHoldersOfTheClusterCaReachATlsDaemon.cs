using System.Net.Sockets;
using System.Text;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Protocol;
using Graft.Management.Volumes;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `graft daemon --tls-cert/--tls-key/--tls-ca`: every control connection (CLI, peer, mount) is TLS with
/// a client certificate of the cluster's CA, the bricks it runs are TLS bricks, and the volfile a mount
/// gets names the mount's own TLS files, so its data goes over TLS too. Clients without a certificate,
/// with one of another CA, or that do not trust the daemon's CA are refused with a message that says
/// so; neither the cluster secret nor key material shows in the daemon's log or `graft state`.
/// </summary>
public sealed class OnlyHoldersOfTheClusterCaReachATlsDaemon
{
    private static string[] Tls((string Cert, string Key) who, string ca) => ["--tls-cert", who.Cert, "--tls-key", who.Key, "--tls-ca", ca];

    private static async Task<DaemonProcess> StartTlsDaemonAsync(string home, TestCertificates certs) =>
        await DaemonProcess.StartAsync(Path.Combine(home, "state"), "127.0.0.1", Tls(certs.Node, certs.Ca));

    [MountFact]
    public async Task A_mount_with_a_certificate_reads_and_writes_through_tls_bricks()
    {
        var home = Proc.PrivateDir("mgmt-tls");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        var certs = TestCertificates.Create(Path.Combine(home, "tls"));
        await using var d = await StartTlsDaemonAsync(home, certs);
        try
        {
            var asClient = Tls(certs.Client, certs.Ca);
            (await d.Cli(["volume", .. asClient, "create", "v", $"127.0.0.1:{home}/b"])).Ok("create with a certificate");
            (await d.Cli(["volume", .. asClient, "start", "v"])).Ok("start with a certificate");
            var status = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse((await d.Cli(["volume", .. asClient, "status", "v", "--json"])).Ok("status").Out)!;
            var brick = status["bricks"]![0]!;
            Assert.True(brick["online"]!.GetValue<bool>(), status.ToJsonString());
            var brickArgs = File.ReadAllText($"/proc/{brick["pid"]!.GetValue<int>()}/cmdline").Split('\0');
            Assert.Equal(certs.Node.Cert, brickArgs[Array.IndexOf(brickArgs, "--tls-cert") + 1]);

            // The brick is a TLS brick: a plaintext connection is refused, and told why.
            Assert.Contains("this brick requires TLS", await PlaintextAnswerAsync(brick["port"]!.GetValue<int>()));

            var o = $"tls-cert={certs.Client2.Cert},tls-key={certs.Client2.Key},tls-ca={certs.Ca}";
            (await Proc.Graft(home, "mount", "-o", o, $"{d.Server}:/v", mnt)).Ok("mount with a certificate");
            File.WriteAllText(Path.Combine(mnt, "f"), "over tls\n");
            Assert.Equal("over tls\n", File.ReadAllText(Path.Combine(mnt, "f")));
            Assert.Equal("over tls\n", File.ReadAllText(Path.Combine(home, "b", "f")));

            // The graph the mount runs names its own files for the bricks; nothing secret shows.
            var state = MountFollowsTheDaemon.State(mnt).GetRawText();
            Assert.Contains("\"daemon\"", state);
            var secret = File.ReadAllText(d.SecretFile).Trim();
            foreach (var (what, text) in new[] { ("graft state", state), ("the daemon's log", d.Log) })
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), what + " shows the cluster secret");
                Assert.False(text.Contains("PRIVATE KEY", StringComparison.Ordinal), what + " shows a key");
                foreach (var key in new[] { certs.Node.Key, certs.Client.Key, certs.Client2.Key })
                    Assert.False(text.Contains(KeyBody(key), StringComparison.Ordinal), what + " shows key material of " + key);
            }
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { await Proc.UnmountAndStopAsync(home, mnt); }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    [Fact]
    public async Task Clients_without_a_certificate_of_the_cluster_ca_are_refused_and_told_why()
    {
        var home = Proc.PrivateDir("mgmt-tls-refused");
        var certs = TestCertificates.Create(Path.Combine(home, "tls"));
        await using var d = await StartTlsDaemonAsync(home, certs);
        try
        {
            (await d.Cli(["volume", .. Tls(certs.Client, certs.Ca), "create", "v", $"127.0.0.1:{home}/b"])).Ok("create with a certificate");
            (await d.Cli(["volume", .. Tls(certs.Client, certs.Ca), "start", "v"])).Ok("start with a certificate");

            async Task Refused(string expected, params string[] args)
            {
                var r = await d.Cli(args);
                Assert.True(r.Code != 0, $"{string.Join(' ', args)} was accepted");
                Assert.Contains(expected, r.Err);
            }
            await Refused("this daemon requires TLS", "volume", "info");
            await Refused("client certificate 'CN=stranger' rejected: not signed by the trusted CA", ["volume", .. Tls(certs.Stranger, certs.Ca), "info"]);
            await Refused("the daemon's certificate 'CN=node' rejected", ["volume", .. Tls(certs.Client, certs.OtherCa), "info"]);

            // A mount is refused the same way, and gets no secret.
            var secretCopy = Path.Combine(home, "mount.secret");
            var e = await Assert.ThrowsAsync<ManagementError>(() => VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy));
            Assert.Contains("this daemon requires TLS", e.Message);
            e = await Assert.ThrowsAsync<ManagementError>(() => VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy,
                tls: new TlsFiles(certs.Stranger.Cert, certs.Stranger.Key, certs.Ca)));
            Assert.Contains("client certificate 'CN=stranger' rejected", e.Message);
            Assert.False(File.Exists(secretCopy));
            // With a certificate: the volfile names the mount's files for every brick, and the secret came inside TLS.
            using (var sub = await VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy, tls: new TlsFiles(certs.Client.Cert, certs.Client.Key, certs.Ca)))
            {
                Assert.Contains($"option tls-cert {certs.Client.Cert}", sub.InitialText);
                Assert.Contains($"option tls-ca {certs.Ca}", sub.InitialText);
                Assert.Equal(File.ReadAllText(d.SecretFile).Trim(), File.ReadAllText(secretCopy).Trim());
            }
            Assert.Contains("refused: client certificate 'CN=stranger' rejected", d.Log);

            // A client with TLS is told when a daemon has none.
            await using var plain = await DaemonProcess.StartAsync(Path.Combine(home, "plain"), "127.0.0.2");
            var r = await plain.Cli(["volume", .. Tls(certs.Client, certs.Ca), "info"]);
            Assert.NotEqual(0, r.Code);
            Assert.Contains("this daemon does not use TLS", r.Err);

            // Bad TLS files stop a daemon at start, naming the file.
            var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
            var bad = await Proc.RunAsync("dotnet", [dll, "daemon", "--state-dir", Path.Combine(home, "bad"), "--port", "0", "--tls-cert", Path.Combine(home, "nope.pem"),
                                                   "--tls-key", certs.Node.Key, "--tls-ca", certs.Ca], seconds: 60);
            Assert.Equal(1, bad.Code);
            Assert.Contains("nope.pem", bad.Err);
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    /// <summary>What a brick answers a plaintext client (its refusal frame, as text), up to its close.</summary>
    private static async Task<string> PlaintextAnswerAsync(int port)
    {
        using var c = new TcpClient();
        await c.ConnectAsync("127.0.0.1", port);
        var s = c.GetStream();
        await s.WriteAsync(new byte[32]); // a plaintext frame header: anything but a TLS record
        var got = new MemoryStream();
        var buf = new byte[1024];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n;
        while ((n = await s.ReadAsync(buf, bound.Token)) > 0) got.Write(buf, 0, n);
        return Encoding.ASCII.GetString(got.ToArray());
    }

    /// <summary>A line of the key's base64 body: what would show if the key leaked.</summary>
    private static string KeyBody(string keyFile) => File.ReadAllLines(keyFile).First(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal));
}
