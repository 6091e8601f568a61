using System.Diagnostics;
using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `volume add-brick` on a mounted volume: the mount switches to a graph with cluster/distribute over one
/// more subvolume while a file stays open and is written across, and the daemon runs a fix-layout
/// (`graft rebalance --fix-layout`) that completes, so new files can land on the new brick.
/// </summary>
public sealed class AddBrickThroughAMount
{
    [MountFact]
    public async Task Add_brick_switches_the_mount_and_fixes_the_layout()
    {
        var home = Proc.PrivateDir("mgmt-addbrick");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b1")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            (await Proc.Graft(home, "mount", $"{d.Server}:/v", mnt)).Ok("mount");
            await using (var f = new FileStream(Path.Combine(mnt, "held"), FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
            {
                f.Write("before\n"u8); f.Flush(true);
                var switches = MountFollowsTheDaemon.Counter(mnt, "switches");
                (await d.Cli("volume", "add-brick", "v", $"127.0.0.1:{home}/b2")).Ok("add-brick");
                await MountFollowsTheDaemon.Within(Stopwatch.StartNew(), TimeSpan.FromSeconds(30),
                    () => MountFollowsTheDaemon.Counter(mnt, "switches") == switches + 1, "the switch to two subvolumes");
                Assert.True(MountFollowsTheDaemon.State(mnt).GetProperty("lastVolfileError").ValueKind == System.Text.Json.JsonValueKind.Null);
                f.Write("after\n"u8); f.Flush(true);
            }
            Assert.Equal("before\nafter\n", File.ReadAllText(Path.Combine(mnt, "held")));
            Assert.Equal(2, ((JsonArray)(await d.StatusAsync("v"))["bricks"]!).Count);

            var sw = Stopwatch.StartNew();
            string state;
            while ((state = (await d.Json("volume", "rebalance", "v", "status"))["state"]!.GetValue<string>()) is "requested" or "running")
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "the fix-layout did not finish within 60 s");
                await Task.Delay(200);
            }
            Assert.Equal("completed", state);
            // The mount places a new name by its cached copy of the directory's layout while that copy is younger
            // than distribute's layout-refresh (1 s by default, docs/distribute.md), so a layout it read just before
            // the fix-layout wrote the even split may still send names to b1 for up to that long. Past it, every
            // placement reads the fixed layout.
            await Task.Delay(TimeSpan.FromSeconds(1) + TimeSpan.FromMilliseconds(200));
            // The mount's graph came up when the new brick was started but perhaps not yet listening (on a loaded
            // machine it is still down after distribute's subvolume-wait); its client then connects on its own
            // retry schedule, and until it has, a file that hashes to the new brick gets ENOTCONN. So each create
            // is retried (bounded); every file must land, and some of them on the new brick.
            for (int i = 0; i < 20; i++)
            {
                var (path, text) = (Path.Combine(mnt, $"new{i}"), $"{i}\n");
                await Proc.Until(() => TryWrite(path, text), $"new{i} created (the mount reaches the new brick)", seconds: 60);
            }
            for (int i = 0; i < 20; i++) Assert.Equal($"{i}\n", File.ReadAllText(Path.Combine(mnt, $"new{i}")));
            if (!Directory.GetFiles(Path.Combine(home, "b2")).Any(f => Path.GetFileName(f).StartsWith("new", StringComparison.Ordinal)))
                Assert.Fail($"no new file on b2; the root's layout on b1: {await LayoutOfAsync(Path.Combine(home, "b1"))}, on b2: {await LayoutOfAsync(Path.Combine(home, "b2"))}");
        }
        catch (Exception e)
        {
            // In the failure message: the test runner does not show what a test writes to stderr.
            throw new Xunit.Sdk.XunitException($"{e.Message}\n== mount state\n{(Proc.IsMounted(mnt) ? MountFollowsTheDaemon.State(mnt).ToString() : "(not mounted)")}\n== daemon\n{d.Log}", e);
        }
        finally
        {
            await Proc.Graft(home, "umount", mnt);
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    /// <summary>The distribute layout xattr of a brick's root, in hex (getfattr), for a failure message.</summary>
    private static async Task<string> LayoutOfAsync(string brick)
    {
        var r = await Proc.RunAsync("getfattr", ["-e", "hex", "-n", "trusted.graft.dht.layout", brick], seconds: 10);
        return (r.Out + r.Err).Trim().Replace('\n', ' ');
    }

    private static bool TryWrite(string path, string text)
    {
        try { File.WriteAllText(path, text); return true; }
        catch (IOException) { return false; }
    }
}
