using System.Diagnostics;
using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `graft mount HOST:PORT:/VOLUME`: the volfile comes from the daemon, and `volume set` reaches the mount
/// by itself — a translator removed or added is a new graph, a run-time option is reconfigured in place —
/// while a file stays open and is written across every change.
/// </summary>
public sealed class MountFollowsTheDaemon
{
    /// <summary>How long a change may take to reach the mount (the bound is a second; the rest is a loaded CI machine's slack).</summary>
    static readonly TimeSpan Reach = TimeSpan.FromSeconds(5);

    internal static JsonElement State(string mnt)
    {
        var json = Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(mnt), "state", TimeSpan.FromSeconds(5));
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    internal static long Counter(string mnt, string name) => State(mnt).GetProperty("counters").GetProperty(name).GetInt64();

    /// <summary>Waits until <paramref name="cond"/> holds; returns how long it took from <paramref name="since"/>.</summary>
    internal static async Task<TimeSpan> Within(Stopwatch since, TimeSpan bound, Func<bool> cond, string what)
    {
        while (!cond())
        {
            Assert.True(since.Elapsed < bound, $"{what} did not happen within {bound.TotalSeconds}s");
            await Task.Delay(10);
        }
        return since.Elapsed;
    }

    [MountFact]
    public async Task Set_switches_or_reconfigures_the_mount_with_a_file_held_open()
    {
        var home = Proc.PrivateDir("mgmt-mount");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            (await Proc.Graft(home, "mount", $"{d.Server}:/v", mnt)).Ok("mount");
            var source = State(mnt).GetProperty("volfileSource");
            Assert.Equal("daemon", source.GetProperty("kind").GetString());
            Assert.Equal($"{d.Server}:/v", source.GetProperty("source").GetString());
            var rev0 = source.GetProperty("revision").GetInt64();
            Assert.True(rev0 > 0);
            // Credentials never show in the state.
            var secret = File.ReadAllText(d.SecretFile).Trim();
            Assert.DoesNotContain(secret, State(mnt).GetRawText());
            var counted = Stopwatch.StartNew();
            while ((await d.StatusAsync("v"))["clients"]!.GetValue<int>() != 1)
            {
                Assert.True(counted.Elapsed < TimeSpan.FromSeconds(10), "volume status never counted the mount as a client");
                await Task.Delay(50);
            }

            await using (var f = new FileStream(Path.Combine(mnt, "held"), FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
            {
                f.Write("one\n"u8); f.Flush(true);

                var switches = Counter(mnt, "switches");
                // Measured from before the CLI starts, so the bound holds whatever the CLI's own start-up costs.
                var sw = Stopwatch.StartNew();
                (await d.Cli("volume", "set", "v", "performance.write-behind", "off")).Ok("set write-behind off");
                var cli = sw.Elapsed;
                var took = await Within(sw, Reach, () => Counter(mnt, "switches") == switches + 1, "the switch to a graph without write-behind");
                Console.WriteLine($"write-behind off: the CLI took {cli.TotalMilliseconds:0} ms, the mount had switched {took.TotalMilliseconds:0} ms after it started");
                f.Write("two\n"u8); f.Flush(true);

                sw.Restart();
                (await d.Cli("volume", "set", "v", "performance.write-behind", "on")).Ok("set write-behind on");
                await Within(sw, Reach, () => Counter(mnt, "switches") == switches + 2, "the switch back to write-behind");
                f.Write("three\n"u8); f.Flush(true);

                var reconfigures = Counter(mnt, "reconfigures");
                sw.Restart();
                (await d.Cli("volume", "set", "v", "performance.write-behind-window-size", "2MB")).Ok("set window");
                await Within(sw, Reach, () => Counter(mnt, "reconfigures") == reconfigures + 1, "the in-place reconfigure");
                Assert.Equal(switches + 2, Counter(mnt, "switches"));
                f.Write("four\n"u8); f.Flush(true);
                Assert.True(State(mnt).GetProperty("volfileSource").GetProperty("revision").GetInt64() > rev0);
            }
            Assert.Equal("one\ntwo\nthree\nfour\n", File.ReadAllText(Path.Combine(mnt, "held")));
            Assert.Equal(0, Counter(mnt, "fdMigrationFailures"));
            Assert.True(State(mnt).GetProperty("lastVolfileError").ValueKind == JsonValueKind.Null);
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
