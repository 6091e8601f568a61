using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Metrics;

/// <summary>A `graft up` volume whose mount serves metrics (-o metrics=127.0.0.1:0), shared by the tests of <see cref="MetricsOfAMount"/>.</summary>
public sealed class MetricsMountFixture : IAsyncLifetime
{
    MountedVolume? _v;
    internal MountedVolume V => _v ?? throw new InvalidOperationException("no volume (tests skipped?)");

    public async Task InitializeAsync()
    {
        if (new MountFactAttribute().Skip is not null) return;
        _v = await MountedVolume.UpAsync("metrics", "metrics=127.0.0.1:0");
    }

    public async Task DisposeAsync()
    {
        if (_v is not null) await _v.DisposeAsync();
    }
}

/// <summary>
/// What a mount tells about itself: its instruments scraped in Prometheus text format move with the calls
/// made through it, `graft top --once --json` reports them, and SIGUSR1 writes a state dump to its log directory.
/// </summary>
public class MetricsOfAMount(MetricsMountFixture f) : IClassFixture<MetricsMountFixture>
{
    private JsonElement State()
    {
        var json = Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(f.V.Mnt), "state", TimeSpan.FromSeconds(5));
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    private string NewDir(string name)
    {
        var d = f.V.P(name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(d);
        return d;
    }

    [MountFact]
    public async Task A_scrape_shows_the_counters_and_latency_move_with_calls_through_the_mount()
    {
        var url = State().GetProperty("metricsUrl").GetString();
        Assert.NotNull(url);
        var before = await PrometheusText.ScrapeAsync(url!);
        double creates0 = PrometheusText.Value(before, "graft_mount_fop_duration_seconds_count", ("fop", "create"));
        double opened0 = PrometheusText.Value(before, "graft_mount_files_opened_total");

        var d = NewDir("scrape");
        for (int i = 0; i < 5; i++) await File.WriteAllTextAsync(Path.Combine(d, "f" + i), "x");

        var after = await PrometheusText.ScrapeAsync(url!);
        Assert.True(PrometheusText.Value(after, "graft_mount_fop_duration_seconds_count", ("fop", "create")) >= creates0 + 5);
        Assert.True(PrometheusText.Value(after, "graft_mount_files_opened_total") >= opened0 + 5);
        // A histogram: cumulative buckets up to +Inf, which holds every call.
        Assert.Equal(PrometheusText.Value(after, "graft_mount_fop_duration_seconds_count", ("fop", "create")),
                     PrometheusText.Value(after, "graft_mount_fop_duration_seconds_bucket", ("fop", "create"), ("le", "+Inf")));
        Assert.True(PrometheusText.Value(after, "graft_mount_fop_duration_seconds_sum", ("fop", "create")) > 0);
        Assert.Equal(State().GetProperty("activeGeneration").GetInt64(), PrometheusText.Value(after, "graft_mount_active_generation"));
    }

    [MountFact]
    public async Task Graft_top_once_json_reports_the_calls_of_its_interval()
    {
        var d = NewDir("top");
        // The files are made while top measures: its window holds at least some of the creates.
        var top = Proc.Graft(f.V.Home, "top", "--once", "--json", "--interval", "2", f.V.Mnt);
        var made = 0;
        while (!top.IsCompleted && made < 2000) await File.WriteAllTextAsync(Path.Combine(d, "f" + made++), "x");
        var run = (await top).Ok("graft top --once --json");

        var view = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(f.V.DaemonPid(), view.GetProperty("pid").GetInt32());
        Assert.Equal(f.V.Mnt, view.GetProperty("mountPoint").GetString());
        var create = view.GetProperty("fops").EnumerateArray().Single(x => x.GetProperty("fop").GetString() == "create");
        Assert.True(create.GetProperty("callsInInterval").GetInt64() > 0, run.Out);
        Assert.True(create.GetProperty("perSecond").GetDouble() > 0);
        Assert.True(create.GetProperty("p99Microseconds").GetDouble() >= create.GetProperty("p50Microseconds").GetDouble());
        Assert.True(create.GetProperty("calls").GetInt64() >= create.GetProperty("callsInInterval").GetInt64());
        Assert.True(view.TryGetProperty("switches", out _) && view.TryGetProperty("fdMigrations", out _));
    }

    [MountFact]
    public async Task Sigusr1_writes_the_state_and_a_metrics_snapshot_to_the_log_directory()
    {
        var logDir = Path.Combine(f.V.Home, "var", "log");
        var pid = f.V.DaemonPid();
        var existing = Directory.GetFiles(logDir, $"mount-*.{pid}.dump-*.json").ToHashSet();
        await File.WriteAllTextAsync(Path.Combine(NewDir("dump"), "f"), "x");

        Assert.Equal(0, Sys.kill(pid, 10));
        string[] dumps = [];
        await Proc.Until(() => (dumps = [.. Directory.GetFiles(logDir, $"mount-*.{pid}.dump-*.json").Where(p => !existing.Contains(p))]).Length > 0,
                         "a state dump in " + logDir, seconds: 30);

        var dump = JsonDocument.Parse(await File.ReadAllTextAsync(dumps.Single())).RootElement;
        Assert.Equal(f.V.Mnt, dump.GetProperty("mountPoint").GetString());
        Assert.Equal(pid, dump.GetProperty("state").GetProperty("pid").GetInt32());
        Assert.True(dump.GetProperty("state").GetProperty("counters").GetProperty("filesOpened").GetInt64() >= 1);
        Assert.Contains(dump.GetProperty("metrics").GetProperty("fops").EnumerateArray(), x => x.GetProperty("fop").GetString() == "create");
        Assert.True(Directory.Exists($"/proc/{pid}"), "the daemon lives on after a dump");
    }
}
