using System.Diagnostics;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Bricks;
using Graft.Management.Tests.Store;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// A volfile names TLS for every brick of a volume, so a cluster's daemons use TLS or none: a daemon
/// started in the other mode than its cluster's refuses to start and says how the cluster runs — unless
/// its host is the pool's only one, when it switches the cluster and restarts its bricks with the new
/// settings (a brick running with the old ones is stopped, not left holding the port).
/// </summary>
// Not beside the other etcd daemon tests: each runs daemons for hosts 127.0.0.1-3 and kills and restarts them.
[Collection("etcd daemons")]
public sealed class EveryDaemonOfAClusterUsesTlsOrNone(EtcdCluster etcd) : IClassFixture<EtcdCluster>
{
    private static string[] Tls(TestCertificates c) => ["--tls-cert", c.Node.Cert, "--tls-key", c.Node.Key, "--tls-ca", c.Ca];

    [EtcdFact]
    public async Task A_daemon_in_the_other_mode_than_its_cluster_is_refused()
    {
        var home = Proc.PrivateDir("mgmt-tls-mode");
        var certs = TestCertificates.Create(Path.Combine(home, "tls"));
        string[] store = ["--etcd", etcd.EndpointList, "--etcd-prefix", EtcdCluster.NewPrefix()];
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1", store);
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        var r = await Proc.RunAsync("dotnet", [dll, "daemon", "--state-dir", Path.Combine(home, "s2"), "--listen", "127.0.0.2", "--port", "0", .. store, .. Tls(certs)], seconds: 60);
        Assert.Equal(1, r.Code);
        Assert.Contains("this cluster runs without TLS", r.Err);
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    [EtcdFact]
    public async Task Daemons_of_a_tls_cluster_reach_each_other_and_their_bricks_with_their_certificates()
    {
        var home = Proc.PrivateDir("mgmt-tls-peers");
        var certs = TestCertificates.Create(Path.Combine(home, "tls"));
        string[] store = ["--etcd", etcd.EndpointList, "--etcd-prefix", EtcdCluster.NewPrefix(), .. Tls(certs)];
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1", store);
        await using var d2 = await DaemonProcess.StartAsync(Path.Combine(home, "s2"), "127.0.0.2", store);
        try
        {
            string[] c = ["--tls-cert", certs.Client.Cert, "--tls-key", certs.Client.Key, "--tls-ca", certs.Ca];
            (await d1.Cli(["peer", .. c, "probe", d2.Server])).Ok("probe over TLS");
            var peers = (System.Text.Json.Nodes.JsonArray)System.Text.Json.Nodes.JsonNode.Parse((await d2.Cli(["peer", .. c, "status", "--json"])).Ok("peer status").Out)!;
            Assert.Equal(2, peers.Count);
            Assert.All(peers, p => Assert.True(p!["connected"]!.GetValue<bool>(), peers.ToJsonString()));

            // A volume over both hosts; adding a brick makes the leader run a fix-layout over TLS bricks
            // (the rebalance's volfile carries the daemon's own certificate).
            (await d1.Cli(["volume", .. c, "create", "v", $"127.0.0.1:{home}/b1", $"127.0.0.2:{home}/b2"])).Ok("create");
            (await d1.Cli(["volume", .. c, "start", "v"])).Ok("start");
            (await d2.Cli(["volume", .. c, "add-brick", "v", $"127.0.0.2:{home}/b3"])).Ok("add-brick");
            var sw = Stopwatch.StartNew();
            string state;
            while ((state = System.Text.Json.Nodes.JsonNode.Parse((await d1.Cli(["volume", .. c, "rebalance", "v", "status", "--json"])).Ok("rebalance status").Out)!["state"]!.GetValue<string>())
                   is "requested" or "running")
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), "the fix-layout did not finish within 90 s");
                await Task.Delay(200);
            }
            Assert.Equal("completed", state);
        }
        catch (Exception)
        {
            Console.Error.WriteLine("== daemon 1\n" + d1.Log + "\n== daemon 2\n" + d2.Log);
            throw;
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    [Fact]
    public async Task The_only_host_switches_its_cluster_and_restarts_its_bricks_with_tls()
    {
        var home = Proc.PrivateDir("mgmt-tls-switch");
        var certs = TestCertificates.Create(Path.Combine(home, "tls"));
        var state = Path.Combine(home, "state");
        int plainPid;
        await using (var plain = await DaemonProcess.StartAsync(state))
        {
            (await plain.Cli("volume", "create", "v", $"127.0.0.1:{home}/b")).Ok("create");
            (await plain.Cli("volume", "start", "v")).Ok("start");
            plainPid = (await plain.StatusAsync("v"))["bricks"]![0]!["pid"]!.GetValue<int>();
            await plain.StopAsync(); // its brick keeps running, without TLS
            Assert.True(Processes.Alive(plainPid), "the brick outlives its daemon");

            await using var d = await DaemonProcess.StartAsync(state, "127.0.0.1", Tls(certs));
            try
            {
                string[] asClient = ["--tls-cert", certs.Client.Cert, "--tls-key", certs.Client.Key, "--tls-ca", certs.Ca];
                var sw = Stopwatch.StartNew();
                while (true)
                {
                    var s = System.Text.Json.Nodes.JsonNode.Parse((await d.Cli(["volume", .. asClient, "status", "v", "--json"])).Ok("status").Out)!["bricks"]![0]!;
                    if (s["online"]!.GetValue<bool>() && s["pid"]!.GetValue<int>() != plainPid)
                    {
                        var args = File.ReadAllText($"/proc/{s["pid"]!.GetValue<int>()}/cmdline").Split('\0');
                        Assert.Contains("--tls-cert", args);
                        break;
                    }
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "the brick was not restarted with TLS: " + s.ToJsonString());
                    await Task.Delay(100);
                }
                Assert.Contains("runs with other settings; restarting it", d.Log);
                await Proc.Until(() => !Processes.Alive(plainPid), "the brick without TLS stopped", 30);
            }
            catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
