using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>One daemon with its SQLite store: a volume's life through the CLI, and the errors that name what is wrong.</summary>
public sealed class VolumeLifecycleThroughTheDaemon
{
    [Fact]
    public async Task Create_start_status_set_get_stop_delete()
    {
        var home = Proc.PrivateDir("mgmt-lifecycle");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            var brick = Path.Combine(home, "b1");
            (await d.Cli("volume", "create", "v1", $"127.0.0.1:{brick}")).Ok("create");
            var info = (JsonArray)await d.Json("volume", "info", "v1");
            Assert.Equal("created", info[0]!["state"]!.GetValue<string>());

            (await d.Cli("volume", "start", "v1")).Ok("start");
            var status = await d.StatusAsync("v1");
            Assert.Equal("v1", status["name"]!.GetValue<string>());
            Assert.Equal("started", status["state"]!.GetValue<string>());
            var b = status["bricks"]![0]!;
            Assert.Equal("127.0.0.1", b["host"]!.GetValue<string>());
            Assert.Equal(brick, b["path"]!.GetValue<string>());
            Assert.True(b["online"]!.GetValue<bool>(), status.ToJsonString());
            var pid = b["pid"]!.GetValue<int>();
            Assert.Contains(" brick ", File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '));
            Assert.True(b["port"]!.GetValue<int>() > 0);
            Assert.Equal(0, status["clients"]!.GetValue<int>());

            (await d.Cli("volume", "set", "v1", "performance.write-behind-window-size", "2MB")).Ok("set");
            var got = (JsonArray)await d.Json("volume", "get", "v1", "performance.write-behind-window-size");
            Assert.Equal("2MB", got[0]!["value"]!.GetValue<string>());
            Assert.Equal("4MB", got[0]!["default"]!.GetValue<string>());
            var all = (JsonArray)await d.Json("volume", "get", "v1", "all");
            Assert.Contains(all, k => k!["key"]!.GetValue<string>() == "performance.write-behind" && k["description"]!.GetValue<string>().Length > 0);
            (await d.Cli("volume", "reset", "v1", "performance.write-behind-window-size")).Ok("reset");
            Assert.Equal("4MB", ((JsonArray)await d.Json("volume", "get", "v1", "performance.write-behind-window-size"))[0]!["value"]!.GetValue<string>());

            var refused = await d.Cli("volume", "delete", "v1");
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("stop it first", refused.Err);

            (await d.Cli("volume", "stop", "v1")).Ok("stop");
            await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the brick stops with its volume", 30);
            (await d.Cli("volume", "delete", "v1")).Ok("delete");
            Assert.Empty((JsonArray)await d.Json("volume", "info"));
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }

    [Fact]
    public async Task Errors_name_what_is_wrong()
    {
        var home = Proc.PrivateDir("mgmt-errors");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        (await d.Cli("volume", "create", "a", $"127.0.0.1:{home}/a")).Ok("create a");
        async Task Refused(string expected, params string[] args)
        {
            var r = await d.Cli(args);
            Assert.True(r.Code != 0, $"{string.Join(' ', args)} was accepted");
            Assert.Contains(expected, r.Err);
        }
        await Refused("unknown key 'performance.bogus'", "volume", "set", "a", "performance.bogus", "on");
        await Refused("is in use by volume a", "volume", "create", "b", $"127.0.0.1:{home}/a");
        await Refused("host 127.0.0.9 is not a peer", "volume", "create", "b", $"127.0.0.9:{home}/b");
        await Refused("volume nope does not exist", "volume", "start", "nope");
        // A CLI without the cluster secret gets nothing.
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        var wrong = Path.Combine(home, "wrong-secret");
        File.WriteAllText(wrong, "not the secret\n");
        var r = await Proc.RunAsync("dotnet", [dll, "volume", "--server", d.Server, "--secret-file", wrong, "info"]);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("wrong cluster secret", r.Err);
        // One daemon per state dir: a second one says so and exits.
        var second = await Proc.RunAsync("dotnet", [dll, "daemon", "--state-dir", d.StateDir, "--port", "0"], seconds: 60);
        Assert.Equal(1, second.Code);
        Assert.Contains("another graft daemon uses the state dir", second.Err);
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
