using System.Globalization;
using System.Text;
using System.Text.Json;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A distributed volume for end-to-end tests: N real `graft brick` processes, a client volfile
/// with one protocol/client per brick under cluster/distribute, and a real `graft mount` of it,
/// all in a private directory. Bricks can be added live (the volfile is rewritten and the mount
/// switches to the new graph) and killed. Dispose unmounts and stops everything it started.
/// </summary>
internal sealed class DistributedMount : IAsyncDisposable
{
    private readonly List<BrickProcess?> _procs = [];
    private readonly string _options;
    private string[] _brickArgs = [];
    private string _cluster = "cluster/distribute";
    private string? _writeBehind;

    public string Home { get; }
    public string Mnt => Path.Combine(Home, "mnt");
    public string VolfilePath => Path.Combine(Home, "client.vol");
    public List<string> BrickDirs { get; } = [];
    public IReadOnlyList<BrickProcess?> Bricks => _procs;

    private DistributedMount(string home, string options) { Home = home; _options = options; }

    /// <param name="dhtOptions">distribute options, `key value` pairs separated by ';'.</param>
    public static Task<DistributedMount> StartAsync(string what, int bricks, string dhtOptions = "", params string[] mountOptions) =>
        StartAsync(what, bricks, dhtOptions, [], mountOptions);

    /// <summary>The same over cluster/replicate instead of distribute: every brick holds a copy of everything.</summary>
    public static Task<DistributedMount> StartReplicatedAsync(string what, int bricks, string afrOptions, params string[] mountOptions) =>
        StartAsync(what, bricks, afrOptions, [], mountOptions, "cluster/replicate");

    /// <param name="brickArgs">more `graft brick` options for every brick (e.g. --grace-timeout).</param>
    /// <param name="writeBehind">when set, performance/write-behind (named wb) on top of the cluster volume, with these options (`key value;...`).</param>
    public static async Task<DistributedMount> StartAsync(string what, int bricks, string dhtOptions, string[] brickArgs, string[] mountOptions,
                                                          string cluster = "cluster/distribute", string? writeBehind = null)
    {
        var m = new DistributedMount(Proc.PrivateDir(what), dhtOptions) { _brickArgs = brickArgs, _cluster = cluster, _writeBehind = writeBehind };
        try
        {
            for (int i = 0; i < bricks; i++) await m.StartBrickAsync();
            Directory.CreateDirectory(m.Mnt);
            await File.WriteAllTextAsync(m.VolfilePath, m.Volfile());
            string[] args = ["mount", "--volfile", m.VolfilePath, "--log", Path.Combine(m.Home, "mount.log"), m.Mnt];
            if (mountOptions.Length > 0) args = [.. args, "-o", string.Join(',', mountOptions)];
            (await Proc.Graft(m.Home, args)).Ok("graft mount");
        }
        catch { await m.DisposeAsync(); throw; }
        return m;
    }

    private async Task StartBrickAsync()
    {
        var dir = Path.Combine(Home, "b" + BrickDirs.Count);
        Directory.CreateDirectory(dir);
        BrickDirs.Add(dir);
        _procs.Add(await BrickProcess.ServeDirAsync(dir, 0, _brickArgs));
    }

    /// <summary>The client volfile over every brick started so far.</summary>
    public string Volfile() => Volfile(null, null);

    /// <summary>
    /// A client volfile over <paramref name="bricks"/> (default: all) with more distribute options, and
    /// optionally a debug/faults layer (options `key value;...`) between distribute and one brick's
    /// protocol/client — the faults layer takes the brick's subvolume name, which is on-disk state.
    /// </summary>
    public string Volfile(IEnumerable<int>? bricks, string? moreDhtOptions, (int Brick, string Options)? faults = null)
    {
        var which = (bricks ?? Enumerable.Range(0, BrickDirs.Count)).ToList();
        var sb = new StringBuilder();
        foreach (var i in which)
        {
            var name = faults?.Brick == i ? $"b{i}-client" : $"b{i}";
            sb.Append(CultureInfo.InvariantCulture, $"volume {name}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {Port(i)}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option reconnect-max-backoff 500ms\n    option secret-file {TestSecret.File}\nend-volume\n\n");
            if (faults?.Brick == i)
            {
                sb.Append(CultureInfo.InvariantCulture, $"volume b{i}\n    type debug/faults\n");
                foreach (var o in faults.Value.Options.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
                sb.Append(CultureInfo.InvariantCulture, $"    subvolumes {name}\nend-volume\n\n");
            }
        }
        sb.Append("volume dht\n    type ").Append(_cluster).Append('\n');
        foreach (var o in (_options + ";" + moreDhtOptions).Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
        sb.Append("    subvolumes ").AppendJoin(' ', which.Select(i => "b" + i)).Append("\nend-volume\n");
        if (_writeBehind is not null)
        {
            sb.Append("\nvolume wb\n    type performance/write-behind\n");
            foreach (var o in _writeBehind.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
            sb.Append("    subvolumes dht\nend-volume\n");
        }
        return sb.ToString();
    }

    /// <summary>A client volfile of one brick alone (its protocol/client), to look at it directly as the mount's trusted identity would.</summary>
    public string BrickVolfile(int i) =>
        string.Create(CultureInfo.InvariantCulture, $"volume b{i}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {Port(i)}\n    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\nend-volume\n");

    /// <summary>Replaces the mount's volfile (write, rename over) and waits until the mount applied it: a new graph, or options changed in place.</summary>
    public async Task ApplyVolfileAsync(string text)
    {
        long gen = ActiveGeneration(), reconf = Counter("reconfigures");
        var tmp = VolfilePath + ".new";
        await File.WriteAllTextAsync(tmp, text);
        File.Move(tmp, VolfilePath, overwrite: true);
        await Proc.Until(() => ActiveGeneration() > gen || Counter("reconfigures") > reconf, "the mount to apply its new volfile", 30);
    }

    /// <summary>A counter of a translator of the mount's active graph (`graft state`: graphs[].translators).</summary>
    public long TranslatorCounter(string translator, string name)
    {
        using var doc = JsonDocument.Parse(State());
        long active = doc.RootElement.GetProperty("activeGeneration").GetInt64();
        foreach (var g in doc.RootElement.GetProperty("graphs").EnumerateArray())
            if (g.GetProperty("generation").GetInt64() == active)
                return g.GetProperty("translators").GetProperty(translator).GetProperty(name).GetInt64();
        throw new InvalidOperationException("no active graph in the state");
    }

    /// <summary>Writes <paramref name="text"/> as a volfile beside the mount's (for `graft rebalance`); returns its path.</summary>
    public string WriteVolfile(string name, string text)
    {
        var path = Path.Combine(Home, name);
        File.WriteAllText(path, text);
        return path;
    }

    private readonly Dictionary<int, int> _ports = [];
    private int Port(int i) => _procs[i]?.Port ?? _ports[i];

    /// <summary>add-brick: one more brick process, and the mount switched to a graph over all of them.</summary>
    public async Task AddBrickAsync()
    {
        await StartBrickAsync();
        long before = ActiveGeneration();
        var tmp = VolfilePath + ".new";
        await File.WriteAllTextAsync(tmp, Volfile());
        File.Move(tmp, VolfilePath, overwrite: true);
        await Proc.Until(() => ActiveGeneration() > before, "the mount to switch to the graph with the new brick", 30);
    }

    /// <summary>Kills brick <paramref name="i"/> (SIGKILL); its port is remembered so the volfile still names it.</summary>
    public async Task KillBrickAsync(int i)
    {
        var b = _procs[i]!;
        _ports[i] = b.Port;
        await b.KillHardAsync();
        await b.DisposeAsync();
        _procs[i] = null;
    }

    /// <summary>Starts brick <paramref name="i"/> again (after <see cref="KillBrickAsync"/>) on its old port and directory.</summary>
    public async Task RestartBrickAsync(int i)
    {
        Assert.Null(_procs[i]);
        _procs[i] = await BrickProcess.ServeDirAsync(BrickDirs[i], _ports[i], _brickArgs);
    }

    public string State() => Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(Mnt), "state", TimeSpan.FromSeconds(5));

    public long ActiveGeneration()
    {
        using var doc = JsonDocument.Parse(State());
        return doc.RootElement.GetProperty("activeGeneration").GetInt64();
    }

    public long Counter(string name)
    {
        using var doc = JsonDocument.Parse(State());
        return doc.RootElement.GetProperty("counters").GetProperty(name).GetInt64();
    }

    public string P(params string[] parts) => Path.Combine([Mnt, .. parts]);

    /// <summary>Where a path of the volume is on brick <paramref name="i"/>'s own directory.</summary>
    public string On(int i, string path) => Path.Combine(BrickDirs[i], path.TrimStart('/'));

    /// <summary>
    /// Runs `graft heal` over this volume, asserts it ended with nothing pending and no split brain, and that
    /// every brick directory now holds the same (<see cref="Graft.Tests.Replicate.Bricks.Describe"/>); returns that description.
    /// </summary>
    /// <param name="context">more text for the failure message (e.g. what `heal --info` said before).</param>
    public async Task<string> HealAndCompareBricksAsync(string context = "")
    {
        var heal = await Proc.Graft(Home, "heal", "--volfile", VolfilePath);
        Assert.True(heal.Code == 0, $"{heal.Out}\n{heal.Err}\n{context}");
        Assert.Matches(@"heal: \d+ healed, 0 pending, 0 split-brain\s*$", heal.Out);
        var want = Graft.Tests.Replicate.Bricks.Describe(BrickDirs[0]);
        for (int i = 1; i < BrickDirs.Count; i++) Assert.Equal(want, Graft.Tests.Replicate.Bricks.Describe(BrickDirs[i]));
        return want;
    }

    public string Logs() => File.Exists(Path.Combine(Home, "mount.log")) ? File.ReadAllText(Path.Combine(Home, "mount.log")) : "";

    public async ValueTask DisposeAsync()
    {
        int? pid = null;
        try { using var doc = JsonDocument.Parse(State()); pid = doc.RootElement.GetProperty("pid").GetInt32(); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or JsonException) { }
        if (Proc.IsMounted(Mnt))
        {
            try { await Proc.Graft(Home, "umount", Mnt); } catch (TimeoutException) { }
            if (Proc.IsMounted(Mnt)) await Proc.RunAsync("umount", ["-l", Mnt], seconds: 30);
        }
        if (pid is int p && Directory.Exists($"/proc/{p}")) Sys.kill(p, 9);
        foreach (var b in _procs) if (b is not null) { await b.StopAsync(); await b.DisposeAsync(); }
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A mounted volume a test battery runs on: one brick (`graft up`) or several under distribute.</summary>
public interface IMountUnderTest
{
    string Mnt { get; }
    IReadOnlyList<string> BrickDirs { get; }
    /// <summary>A fresh directory on the mount for one test, world-writable so other users can be tried in it.</summary>
    string NewDir(string name);
}

/// <summary>One distributed volume of three brick processes shared by the tests of a class; each test works in its own directory.</summary>
public sealed class DistributedVolumeFixture : IAsyncLifetime, IMountUnderTest
{
    DistributedMount? _m;

    internal DistributedMount M => _m ?? throw new InvalidOperationException("no volume (tests skipped?)");
    public string Mnt => M.Mnt;
    public IReadOnlyList<string> BrickDirs => M.BrickDirs;

    public string NewDir(string name)
    {
        var d = M.P(name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(d);
        return d;
    }

    public async Task InitializeAsync()
    {
        if (new MountFactAttribute().Skip is not null) return;
        _m = await DistributedMount.StartAsync("dht3", 3);
    }

    public async Task DisposeAsync()
    {
        if (_m is not null) await _m.DisposeAsync();
    }
}
