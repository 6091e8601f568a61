using System.Diagnostics;
using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `volume remove-brick ... start` on a mounted volume of three bricks: the daemon lists the brick as
/// distribute's `decommissioned` in the client volfile and its leader drains it (`graft rebalance --remove`);
/// `commit` then takes it out, the mount switches to a graph without it, and every file reads back intact.
/// The removed brick's directory holds no file of the volume afterwards.
/// </summary>
public sealed class RemoveBrickThroughAMount
{
    [MountFact]
    public async Task Remove_brick_drains_the_brick_then_commit_leaves_every_file_on_the_mount()
    {
        var home = Proc.PrivateDir("mgmt-removebrick");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b1", $"127.0.0.1:{home}/b2", $"127.0.0.1:{home}/b3")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            (await Proc.Graft(home, "mount", $"{d.Server}:/v", mnt)).Ok("mount");
            var files = await Workloads.WriteTreeAsync(mnt, "/d", 30, seed: 3);
            Assert.NotEmpty(Moves.DataFilesOn(Path.Combine(home, "b2"))); // the drain has work to do

            (await d.Cli("volume", "remove-brick", "v", $"127.0.0.1:{home}/b2", "start")).Ok("remove-brick start");
            var sw = Stopwatch.StartNew();
            JsonNode status;
            while ((status = await d.Json("volume", "remove-brick", "v", "status"))["state"]!.GetValue<string>() is "requested" or "running")
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), "the drain did not finish within 90 s");
                await Task.Delay(200);
            }
            Assert.True(status["state"]!.GetValue<string>() == "completed", status.ToJsonString());
            Assert.Contains("drained: v-client-", status["output"]!.GetValue<string>());
            Assert.Empty(Moves.DataFilesOn(Path.Combine(home, "b2")));

            var switches = MountFollowsTheDaemon.Counter(mnt, "switches");
            (await d.Cli("volume", "remove-brick", "v", $"127.0.0.1:{home}/b2", "commit")).Ok("remove-brick commit");
            await MountFollowsTheDaemon.Within(Stopwatch.StartNew(), TimeSpan.FromSeconds(30),
                () => MountFollowsTheDaemon.Counter(mnt, "switches") > switches, "the switch to a graph without b2");
            Assert.Equal(2, ((JsonArray)(await d.StatusAsync("v"))["bricks"]!).Count);
            await Workloads.AssertTreeAsync(mnt, files);
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally
        {
            await Proc.Graft(home, "umount", mnt);
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
