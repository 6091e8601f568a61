using System.Text.RegularExpressions;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Tests.Store;
using Graft.Tests.Replicate;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// Two daemons (127.0.0.1 and .2) sharing etcd: a heal sweep asked for through either runs once, on the
/// daemon holding the jobs lease, whichever took the command; when that daemon dies, the other takes the
/// lease and runs the next sweep.
/// </summary>
// Not beside the other etcd daemon tests: each runs daemons for hosts 127.0.0.1-3 and kills and restarts them.
[Collection("etcd daemons")]
public sealed class HealSweepsRunOnceByTheLeader(EtcdCluster etcd) : IClassFixture<EtcdCluster>
{
    static int Sweeps(DaemonProcess d) => Regex.Count(d.Log, "heal sweep of volume v started");

    [EtcdFact]
    public async Task On_the_daemon_holding_the_lease_and_on_the_next_one_when_it_dies()
    {
        var home = Proc.PrivateDir("mgmt-heal-leader");
        string[] store = ["--etcd", etcd.EndpointList, "--etcd-prefix", EtcdCluster.NewPrefix()];
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1", store);
        await using var d2 = await DaemonProcess.StartAsync(Path.Combine(home, "s2"), "127.0.0.2", store);
        try
        {
            (await d1.Cli("peer", "probe", d2.Server)).Ok("probe 2");
            var dirs = await ReplicaVolume.CreateAsync(d1, home, "v", "127.0.0.1", "127.0.0.2");
            await ReplicaVolume.WriteWithoutAsync(d1, "v", missing: 1);

            // Asked through both daemons: one sweep (or two one after the other), all on the leader.
            (await d2.Cli("volume", "heal", "v")).Ok("heal through daemon 2");
            (await d1.Cli("volume", "heal", "v")).Ok("heal through daemon 1");
            var info = await ReplicaVolume.UntilSweepAsync(d2, "v", s => s["last"] is not null && s["running"] is null && !s["requested"]!.GetValue<bool>(), "the requested sweeps to end");
            Assert.Equal("healed", info["sweep"]!["last"]!["result"]!.GetValue<string>());
            var leaderHost = info["sweep"]!["leader"]!.GetValue<string>();
            var (leader, other) = leaderHost == "127.0.0.1" ? (d1, d2) : (d2, d1);
            Assert.InRange(Sweeps(leader), 1, 2);
            Assert.Equal(0, Sweeps(other));
            var want = Bricks.Describe(dirs[0]);
            Assert.Equal(want, Bricks.Describe(dirs[1]));
            Assert.Equal(want, Bricks.Describe(dirs[2]));

            // The leader dies (its bricks run on): the other daemon takes the lease (5 s TTL) and sweeps.
            await leader.KillAsync();
            await ReplicaVolume.WriteWithoutAsync(other, "v", missing: 1);
            var ended = info["sweep"]!["last"]!["endedUnixMs"]!.GetValue<long>();
            (await other.Cli("volume", "heal", "v")).Ok("heal through the survivor");
            var next = await ReplicaVolume.UntilSweepAsync(other, "v", s => s["last"]!["endedUnixMs"]!.GetValue<long>() > ended && s["running"] is null, "the survivor's sweep");
            Assert.Equal(other.Address, next["sweep"]!["leader"]!.GetValue<string>());
            Assert.Equal("healed", next["sweep"]!["last"]!["result"]!.GetValue<string>());
            Assert.True(next["sweep"]!["last"]!["healed"]!.GetValue<long>() >= 1, next.ToJsonString());
            Assert.Equal(1, Sweeps(other));
            want = Bricks.Describe(dirs[0]);
            Assert.Equal(want, Bricks.Describe(dirs[1]));
            Assert.Equal(want, Bricks.Describe(dirs[2]));
        }
        catch (Exception)
        {
            Console.Error.WriteLine("== daemon 1\n" + d1.Log + "\n== daemon 2\n" + d2.Log);
            throw;
        }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }
}
