using System.Diagnostics;
using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Tests.Store;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>Needs etcd and mounts: skipped only when CI is unset and either is missing; in CI it must run.</summary>
internal sealed class EtcdMountFactAttribute : FactAttribute
{
    public EtcdMountFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) return;
        if (EtcdCluster.Binary is null) Skip = "needs etcd (apt-get install etcd-server; runs in CI)";
        else if (!File.Exists("/dev/fuse") || Sys.geteuid() != 0) Skip = "needs root and /dev/fuse (runs in CI)";
    }
}

/// <summary>
/// Three daemons on 127.0.0.1/2/3 sharing a 3-member etcd cluster: one cluster. A volume made through
/// one is seen and changed through the others; each daemon runs only its own host's bricks; a mount
/// subscribed to daemon 1 follows changes made on daemon 3, keeps serving and following through a backup
/// server when daemon 1 is killed, and a killed etcd member changes nothing.
/// </summary>
// Not beside the other etcd daemon tests: each runs daemons for hosts 127.0.0.1-3 and kills and restarts them.
[Collection("etcd daemons")]
public sealed class ThreeDaemonsShareEtcd(EtcdCluster etcd) : IClassFixture<EtcdCluster>
{
    static readonly TimeSpan Reach = TimeSpan.FromSeconds(5);

    [EtcdMountFact]
    public async Task One_cluster_through_any_daemon_and_a_mount_that_outlives_its_volfile_server()
    {
        var home = Proc.PrivateDir("mgmt-etcd");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        var prefix = EtcdCluster.NewPrefix();
        string[] store = ["--etcd", etcd.EndpointList, "--etcd-prefix", prefix];
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1", store);
        await using var d2 = await DaemonProcess.StartAsync(Path.Combine(home, "s2"), "127.0.0.2", store);
        await using var d3 = await DaemonProcess.StartAsync(Path.Combine(home, "s3"), "127.0.0.3", store);
        try
        {
            // One secret for the cluster, made once by the first daemon.
            Assert.Equal(File.ReadAllText(d1.SecretFile), File.ReadAllText(d3.SecretFile));
            (await d1.Cli("peer", "probe", d2.Server)).Ok("probe 2");
            (await d1.Cli("peer", "probe", d3.Server)).Ok("probe 3");
            var peers = (JsonArray)await d3.Json("peer", "status");
            Assert.Equal(3, peers.Count);
            Assert.All(peers, p => Assert.True(p!["connected"]!.GetValue<bool>(), peers.ToJsonString()));

            // Made on daemon 1, seen on daemon 2, started on daemon 3; the brick is 127.0.0.2's, so daemon 2 runs it.
            var brick = Path.Combine(home, "b2");
            (await d1.Cli("volume", "create", "v", $"127.0.0.2:{brick}")).Ok("create on 1");
            Assert.Equal("created", ((JsonArray)await d2.Json("volume", "info", "v"))[0]!["state"]!.GetValue<string>());
            (await d3.Cli("volume", "start", "v")).Ok("start on 3");
            var online = Stopwatch.StartNew();
            while (!(await d1.StatusAsync("v"))["bricks"]![0]!["online"]!.GetValue<bool>())
            {
                Assert.True(online.Elapsed < TimeSpan.FromSeconds(30), "daemon 2 did not start its brick");
                await Task.Delay(100);
            }
            var brickPid = (await d1.StatusAsync("v"))["bricks"]![0]!["pid"]!.GetValue<int>();
            Assert.Contains(brickPid, d2.BrickPids());
            Assert.Empty(d1.BrickPids());
            Assert.Empty(d3.BrickPids());

            (await Proc.Graft(home, "mount", "-o", $"backup-volfile-servers={d2.Server}:{d3.Server}", $"{d1.Server}:/v", mnt)).Ok("mount from daemon 1");
            await using var f = new FileStream(Path.Combine(mnt, "held"), FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
            f.Write("one\n"u8); f.Flush(true);

            // A change made on daemon 3 reaches the mount subscribed to daemon 1.
            var switches = MountFollowsTheDaemon.Counter(mnt, "switches");
            var sw = Stopwatch.StartNew(); // from before the CLI starts
            (await d3.Cli("volume", "set", "v", "performance.write-behind", "off")).Ok("set on 3");
            var cli = sw.Elapsed;
            var took = await MountFollowsTheDaemon.Within(sw, Reach, () => MountFollowsTheDaemon.Counter(mnt, "switches") == switches + 1, "a change made on daemon 3");
            Console.WriteLine($"a change on daemon 3: the CLI took {cli.TotalMilliseconds:0} ms; the mount of daemon 1 had switched {took.TotalMilliseconds:0} ms after it started");
            f.Write("two\n"u8); f.Flush(true);

            // Daemon 1 dies: I/O goes on (the data path never touches it) and the mount follows through a backup.
            await d1.KillAsync();
            f.Write("three\n"u8); f.Flush(true);
            (await d3.Cli("volume", "set", "v", "performance.write-behind", "on")).Ok("set on 3 after daemon 1 died");
            await MountFollowsTheDaemon.Within(Stopwatch.StartNew(), TimeSpan.FromSeconds(30), () => MountFollowsTheDaemon.Counter(mnt, "switches") == switches + 2,
                "a change after daemon 1 died (through a backup volfile server)");
            var source = MountFollowsTheDaemon.State(mnt).GetProperty("volfileSource").GetProperty("source").GetString();
            Assert.NotEqual($"{d1.Server}:/v", source);

            // An etcd member dies: nothing changes for the cluster.
            etcd.Kill(0);
            try
            {
                var reconfigures = MountFollowsTheDaemon.Counter(mnt, "reconfigures");
                (await d2.Cli("volume", "set", "v", "performance.write-behind-window-size", "2MB")).Ok("set with an etcd member down");
                await MountFollowsTheDaemon.Within(Stopwatch.StartNew(), TimeSpan.FromSeconds(30), () => MountFollowsTheDaemon.Counter(mnt, "reconfigures") == reconfigures + 1,
                    "a change with one etcd member down");
                Assert.Equal("2MB", ((JsonArray)await d3.Json("volume", "get", "v", "performance.write-behind-window-size"))[0]!["value"]!.GetValue<string>());
            }
            finally { await etcd.RestartAsync(0); }
            f.Write("four\n"u8); f.Flush(true);
            f.Close();
            Assert.Equal("one\ntwo\nthree\nfour\n", File.ReadAllText(Path.Combine(mnt, "held")));
        }
        catch (Exception)
        {
            Console.Error.WriteLine("== daemon 1\n" + d1.Log + "\n== daemon 2\n" + d2.Log + "\n== daemon 3\n" + d3.Log);
            throw;
        }
        finally
        {
            await Proc.Graft(home, "umount", mnt);
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
