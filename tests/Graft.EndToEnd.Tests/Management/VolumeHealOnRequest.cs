using Graft.EndToEnd.Tests.Mounting;
using Graft.Tests.Replicate;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `graft volume heal NAME info` lists, per brick, what its heal index holds and the objects that need
/// heal; `graft volume heal NAME` has the daemon (the leader of its jobs) sweep the volume once, and info
/// then shows that sweep — and the three brick directories are identical.
/// </summary>
public sealed class VolumeHealOnRequest
{
    [Fact]
    public async Task Info_lists_what_a_brick_missed_and_a_requested_sweep_heals_it()
    {
        var home = Proc.PrivateDir("mgmt-heal");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            var dirs = await ReplicaVolume.CreateAsync(d, home, "v");
            var clean = await ReplicaVolume.InfoAsync(d, "v");
            Assert.All(clean["bricks"]!.AsArray(), b => Assert.True(b!["connected"]!.GetValue<bool>(), clean.ToJsonString()));
            Assert.Equal([0L, 0L, 0L], [ReplicaVolume.Entries(clean, 0), ReplicaVolume.Entries(clean, 1), ReplicaVolume.Entries(clean, 2)]);
            Assert.Null(clean["sweep"]!["last"]);

            await ReplicaVolume.WriteWithoutAsync(d, "v", missing: 1);
            var before = await ReplicaVolume.InfoAsync(d, "v");
            // The two bricks that took the writes list them; the one that missed them blames nobody.
            Assert.True(ReplicaVolume.Entries(before, 0) >= 5, before.ToJsonString());
            Assert.Equal(ReplicaVolume.Entries(before, 0), ReplicaVolume.Entries(before, 2));
            Assert.Equal(0, ReplicaVolume.Entries(before, 1));
            var pending = before["entries"]!.AsArray().Where(e => e!["state"]!.GetValue<string>() == "pending").Select(e => e!["path"]!.GetValue<string>()).ToList();
            Assert.Contains("/d/f0", pending);
            Assert.Contains("/top", pending);
            Assert.Equal(0, before["splitBrain"]!.GetValue<int>());
            Assert.NotEqual(Bricks.Describe(dirs[0]), Bricks.Describe(dirs[1]));

            var text = (await d.Cli("volume", "heal", "v", "info")).Ok("heal info").Out;
            Assert.Contains($"Brick 127.0.0.1:{dirs[1]}\nStatus: Connected\nNumber of entries: 0", text);
            Assert.Contains("pending: /d/f0", text);
            Assert.Contains("last sweep: none yet", text);

            Assert.Contains("a heal sweep is asked for", (await d.Cli("volume", "heal", "v")).Ok("heal").Out);
            var after = await ReplicaVolume.UntilSweepAsync(d, "v", s => s["last"] is not null && s["running"] is null, "the requested sweep to end");
            var last = after["sweep"]!["last"]!;
            Assert.Equal("request", last["trigger"]!.GetValue<string>());
            Assert.Equal("healed", last["result"]!.GetValue<string>());
            Assert.True(last["healed"]!.GetValue<long>() >= 1, after.ToJsonString());
            Assert.Equal("127.0.0.1", after["sweep"]!["leader"]!.GetValue<string>());
            Assert.Equal([0L, 0L, 0L], [ReplicaVolume.Entries(after, 0), ReplicaVolume.Entries(after, 1), ReplicaVolume.Entries(after, 2)]);
            Assert.Equal(0, after["pending"]!.GetValue<int>());
            var want = Bricks.Describe(dirs[0]);
            Assert.Equal(want, Bricks.Describe(dirs[1]));
            Assert.Equal(want, Bricks.Describe(dirs[2]));
            Assert.Contains("d/f2", want);

            // A volume without replicate has nothing to heal, and says so.
            (await d.Cli("volume", "create", "plain", $"127.0.0.1:{home}/plain")).Ok("create plain");
            var refused = await d.Cli("volume", "heal", "plain");
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("volume plain is not replicated", refused.Err);
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }
}

/// <summary>
/// With cluster.heal-interval set, the leader sweeps the volume on its own, again and again: what a
/// brick missed is healed without anybody asking.
/// </summary>
public sealed class HealSweepsEveryInterval
{
    [Fact]
    public async Task A_brick_that_missed_writes_is_healed_without_a_request()
    {
        var home = Proc.PrivateDir("mgmt-heal-interval");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            var dirs = await ReplicaVolume.CreateAsync(d, home, "v");
            await ReplicaVolume.WriteWithoutAsync(d, "v", missing: 2);
            // The default interval (600 s) has not passed: nothing healed it yet.
            var before = await ReplicaVolume.InfoAsync(d, "v");
            Assert.True(ReplicaVolume.Entries(before, 0) >= 5, before.ToJsonString());
            Assert.Null(before["sweep"]!["last"]);

            (await d.Cli("volume", "set", "v", "cluster.heal-interval", "2")).Ok("set the interval");
            // Nothing else heals here: the writer is gone and `heal info` only looks.
            var first = await ReplicaVolume.UntilAsync(d, "v", i => i["sweep"]!["last"] is not null && Enumerable.Range(0, 3).All(b => ReplicaVolume.Entries(i, b) == 0),
                                                        "a sweep on the interval to heal the volume");
            var last = first["sweep"]!["last"]!;
            Assert.Equal("interval", last["trigger"]!.GetValue<string>());
            Assert.Equal("healed", last["result"]!.GetValue<string>());
            Assert.Equal(0, first["pending"]!.GetValue<int>());
            Assert.Equal(2, first["sweep"]!["intervalSeconds"]!.GetValue<long>());
            var want = Bricks.Describe(dirs[0]);
            Assert.Equal(want, Bricks.Describe(dirs[1]));
            Assert.Equal(want, Bricks.Describe(dirs[2]));

            // And again, an interval after the last one ended.
            var ended = last["endedUnixMs"]!.GetValue<long>();
            var next = await ReplicaVolume.UntilSweepAsync(d, "v", s => s["last"]!["endedUnixMs"]!.GetValue<long>() > ended, "the next sweep");
            Assert.True(next["sweep"]!["last"]!["startedUnixMs"]!.GetValue<long>() >= ended + 2000, next.ToJsonString());
            Assert.Equal(0, next["sweep"]!["last"]!["healed"]!.GetValue<long>());
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }
}
