using System.Diagnostics;
using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Tests.Store;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// A brick's status in the store is its own daemon's word. When that daemon dies (its bricks keep
/// running), `volume status` through another daemon must stop vouching for them: online false,
/// daemon "down" (? in the table) within the store's presence lease, and true again once the daemon is
/// back. Two daemons on 127.0.0.1/2 sharing etcd: the multi-node case, where another daemon answers.
/// </summary>
// Not beside the other etcd daemon tests: each runs daemons for hosts 127.0.0.1-3 and kills and restarts them.
[Collection("etcd daemons")]
public sealed class StatusOfADeadDaemonsBricks(EtcdCluster etcd) : IClassFixture<EtcdCluster>
{
    /// <summary>The presence lease is 5 s; this leaves room for a loaded machine.</summary>
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [EtcdFact]
    public async Task A_dead_daemons_bricks_are_not_shown_online()
    {
        var home = Proc.PrivateDir("mgmt-stale");
        string[] store = ["--etcd", etcd.EndpointList, "--etcd-prefix", EtcdCluster.NewPrefix()];
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1", store);
        await using var d2 = await DaemonProcess.StartAsync(Path.Combine(home, "s2"), "127.0.0.2", store);
        try
        {
            (await d1.Cli("peer", "probe", d2.Server)).Ok("probe 2");
            (await d1.Cli("volume", "create", "v", $"127.0.0.1:{home}/b1", $"127.0.0.2:{home}/b2")).Ok("create");
            (await d1.Cli("volume", "start", "v")).Ok("start");
            await Until(d1, b => b[0]!["online"]!.GetValue<bool>() && b[1]!["online"]!.GetValue<bool>(), "both bricks online");
            var brick2 = (await d1.StatusAsync("v"))["bricks"]![1]!["pid"]!.GetValue<int>();
            Assert.Contains(brick2, d2.BrickPids());

            // Daemon 2 dies without a word; its brick runs on, and its status entry still says online.
            await d2.KillAsync();
            var took = await Until(d1, b => !b[1]!["online"]!.GetValue<bool>(), "daemon 2's brick shown not online");
            var bricks = (JsonArray)(await d1.StatusAsync("v"))["bricks"]!;
            Assert.Equal("down", bricks[1]!["daemon"]!.GetValue<string>());
            Assert.True(bricks[0]!["online"]!.GetValue<bool>(), bricks.ToJsonString());
            Assert.Equal("up", bricks[0]!["daemon"]!.GetValue<string>());
            Assert.True(Graft.Management.Bricks.Processes.Alive(brick2), "the brick outlives its daemon (the status was stale, not the brick dead)");
            var table = (await d1.Cli("volume", "status", "v")).Ok("status table").Out;
            Assert.Matches(@"127\.0\.0\.2:\S+/b2\s+\d+\s+\?", table);
            Console.WriteLine($"daemon 2 killed: its brick shown not online {took.TotalSeconds:0.0} s later");

            // Back: it adopts its brick and vouches for it again.
            await d2.RestartAsync();
            await Until(d1, b => b[1]!["online"]!.GetValue<bool>() && b[1]!["daemon"]!.GetValue<string>() == "up", "daemon 2's brick online again");
            Assert.Equal(brick2, (await d1.StatusAsync("v"))["bricks"]![1]!["pid"]!.GetValue<int>());
        }
        catch (Exception e)
        {
            // In the failure message: the test runner does not show what a test writes to stderr.
            throw new Xunit.Sdk.XunitException($"{e.Message}\n== daemon 1\n{d1.Log}\n== daemon 2\n{d2.Log}", e);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    private static async Task<TimeSpan> Until(DaemonProcess d, Func<JsonArray, bool> cond, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!cond((JsonArray)(await d.StatusAsync("v"))["bricks"]!))
        {
            Assert.True(sw.Elapsed < Bound, $"timed out after {Bound.TotalSeconds} s waiting for: {what}");
            await Task.Delay(100);
        }
        return sw.Elapsed;
    }
}
