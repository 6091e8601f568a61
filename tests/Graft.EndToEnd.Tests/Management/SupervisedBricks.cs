using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>The daemon keeps its bricks running: a killed brick comes back; a restarted daemon adopts running bricks and keeps its volumes.</summary>
public sealed class SupervisedBricks
{
    [Fact]
    public async Task A_killed_brick_is_restarted_and_a_restarted_daemon_adopts_it()
    {
        var home = Proc.PrivateDir("mgmt-supervise");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            var first = (await d.StatusAsync("v"))["bricks"]![0]!;
            var pid = first["pid"]!.GetValue<int>();
            var port = first["port"]!.GetValue<int>();

            Sys.kill(pid, 9);
            int restarted = 0;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (restarted == 0)
            {
                var b = (await d.StatusAsync("v"))["bricks"]![0]!;
                if (b["pid"]!.GetValue<int>() is var p && p != pid && p != 0 && b["online"]!.GetValue<bool>()) restarted = p;
                else { Assert.True(DateTime.UtcNow < deadline, "the killed brick was not restarted within 30 s"); await Task.Delay(100); }
            }
            var after = (await d.StatusAsync("v"))["bricks"]![0]!;
            Assert.Equal(1, after["restarts"]!.GetValue<int>());
            Assert.Equal(port, after["port"]!.GetValue<int>()); // same port: client volfiles stay the same

            await d.RestartAsync();
            Assert.True(Directory.Exists($"/proc/{restarted}"), "the brick died with its daemon");
            await Proc.Until(() => d.Log.Contains($"adopted (pid {restarted})", StringComparison.Ordinal), "the new daemon adopts the brick", 30);
            await Proc.Until(() => Directory.Exists($"/proc/{restarted}"), "the adopted brick keeps running", 1);
            var adopted = (await d.StatusAsync("v"))["bricks"]![0]!;
            Assert.Equal(restarted, adopted["pid"]!.GetValue<int>());
            Assert.True(adopted["online"]!.GetValue<bool>());
            Assert.Equal(1, adopted["restarts"]!.GetValue<int>());
            Assert.Contains("adopted", d.Log);
            Assert.Equal("started", (await d.StatusAsync("v"))["state"]!.GetValue<string>());
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }
}
