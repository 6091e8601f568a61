using System.Diagnostics;
using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// A daemon volume's client graph has performance/md-cache at the top (`performance.md-cache`, on by default).
/// Over two bricks (cluster/distribute) a create's reply carries its directory's attributes merged over the
/// directory's copies, so the mount answers the kernel's next getattr of the directory itself — with exactly what
/// a second mount, which cached nothing, reads from the bricks — and two mounts still see each other's changes of
/// names and of the directory's attributes within the notice bound, with kernel timeouts (30 s) and md-cache
/// timeout (30 s) that only a notice (features/upcall) can beat.
/// </summary>
public sealed class DaemonVolumesCacheDirectoryAttributes
{
    private const int Timeout = 30;
    private static readonly string Timeouts = $"attr_timeout={Timeout},entry_timeout={Timeout},negative_timeout={Timeout}";
    /// <summary>A third of the timeouts: seeing a change within it cannot be their doing (as in TwoMountsSeeEachOthersChangesThroughUpcalls).</summary>
    private const double NoticeBound = Timeout / 3.0;

    [MountFact]
    public async Task A_create_answers_the_next_stat_as_the_bricks_would_and_two_mounts_see_each_others_changes()
    {
        var home = Proc.PrivateDir("mgmt-mdcache");
        string m1 = Path.Combine(home, "m1"), m2 = Path.Combine(home, "m2");
        Directory.CreateDirectory(m1);
        Directory.CreateDirectory(m2);
        await using var daemon = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await daemon.Cli("volume", "create", "v", $"127.0.0.1:{home}/b0", $"127.0.0.1:{home}/b1")).Ok("create");
            (await daemon.Cli("volume", "start", "v")).Ok("start");
            (await daemon.Cli("volume", "set", "v", "performance.md-cache-timeout", Timeout.ToString(System.Globalization.CultureInfo.InvariantCulture))).Ok("set md-cache-timeout");
            (await Proc.Graft(home, "mount", "-o", Timeouts, $"{daemon.Server}:/v", m1)).Ok("mount 1");
            (await Proc.Graft(home, "mount", "-o", Timeouts, $"{daemon.Server}:/v", m2)).Ok("mount 2");
            Assert.True(Translators(m1).TryGetProperty("v-md-cache", out _), "md-cache is not in the mount's graph");
            Assert.True(Translators(m1).TryGetProperty("v-dht", out _), "distribute is not in the mount's graph");

            // Mount 1 creates in d; the kernel asks for d's attributes after each create, and md-cache answers.
            string d1 = Path.Combine(m1, "d"), d2 = Path.Combine(m2, "d");
            Directory.CreateDirectory(d1);
            long stores = Counter(m1, "stores"), hits = Counter(m1, "hits");
            for (int i = 0; i < 20; i++) File.WriteAllText(Path.Combine(d1, $"f{i}"), "x");
            string cached = await StatAsync(d1);
            Assert.True(Counter(m1, "stores") > stores, "no create's reply carried merged attributes of d");
            Assert.True(Counter(m1, "hits") > hits, "md-cache answered no getattr of d");
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(home, "b0", "d")));
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(home, "b1", "d"))); // both copies of d changed
            // Mount 2 never looked at d: its answer is the bricks', merged by distribute.
            Assert.Equal(await StatAsync(d2), cached);

            // Names, each way: a name cached as absent, and one cached as present.
            Assert.False(File.Exists(Path.Combine(d1, "n")));
            Assert.True(File.Exists(Path.Combine(d2, "f0")));
            File.WriteAllText(Path.Combine(d2, "n"), "new");
            await Within(() => File.Exists(Path.Combine(d1, "n")), "n, created on mount 2, on mount 1");
            File.Delete(Path.Combine(d1, "f0"));
            await Within(() => !File.Exists(Path.Combine(d2, "f0")), "f0, removed on mount 1, gone on mount 2");

            // d's attributes, cached by mount 1 (md-cache, kernel): mount 2's mkdir moves its mtime and nlink.
            cached = await StatAsync(d1);
            Directory.CreateDirectory(Path.Combine(d2, "sub"));
            string now = await StatAsync(d2);
            Assert.NotEqual(cached, now);
            var sw = Stopwatch.StartNew();
            while (await StatAsync(d1) != now)
            {
                Assert.True(sw.Elapsed.TotalSeconds < NoticeBound, $"d's new attributes did not reach mount 1 within {NoticeBound} s");
                await Task.Delay(20);
            }
        }
        catch (Exception) { Console.Error.WriteLine(daemon.Log); throw; }
        finally
        {
            await Proc.UnmountAndStopAsync(home, m1);
            await Proc.UnmountAndStopAsync(home, m2);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }

    /// <summary>A directory's size, link count, mtime and ctime (ns) as the mount reports them.</summary>
    private static async Task<string> StatAsync(string path)
    {
        var r = await Proc.RunAsync("stat", ["-c", "%s %h %.9Y %.9Z", path], seconds: 30);
        Assert.True(r.Code == 0, $"stat {path}: {r.Err}");
        return r.Out.Trim();
    }

    private static async Task Within(Func<bool> cond, string what)
    {
        var sw = Stopwatch.StartNew();
        await Proc.Until(cond, what, NoticeBound);
        Console.WriteLine($"{what}: {sw.Elapsed.TotalSeconds:0.00} s");
    }

    /// <summary>The counters of the translators of the mount's active graph, by name (`graft state`).</summary>
    private static JsonElement Translators(string mnt)
    {
        var state = MountFollowsTheDaemon.State(mnt);
        long active = state.GetProperty("activeGeneration").GetInt64();
        var g = state.GetProperty("graphs").EnumerateArray().Single(x => x.GetProperty("generation").GetInt64() == active);
        return g.GetProperty("translators");
    }

    private static long Counter(string mnt, string name) => Translators(mnt).GetProperty("v-md-cache").GetProperty(name).GetInt64();
}
