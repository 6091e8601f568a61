using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Metrics;

/// <summary>
/// A brick process started with --metrics serves its per-fop calls, connections and bytes in Prometheus text
/// format, moving with the calls a mount makes; SIGUSR1 writes its state dump to --dump-dir.
/// </summary>
public class MetricsOfABrick
{
    [MountFact]
    public async Task A_scrape_of_a_brick_process_moves_with_the_calls_of_a_mount_and_sigusr1_dumps_its_state()
    {
        var dumpDir = Proc.PrivateDir("brick-dumps");
        try { await ScrapeAndDumpAsync(dumpDir); }
        finally { Directory.Delete(dumpDir, recursive: true); }
    }

    private static async Task ScrapeAndDumpAsync(string dumpDir)
    {
        await using var m = await BrickAndMount.StartAsync("brick-metrics", BrickAuth.TestSecret, "--metrics", "127.0.0.1:0", "--dump-dir", dumpDir);
        var url = m.Brick.Log.Select(l => l.StartsWith("out: metrics on ", StringComparison.Ordinal) ? l["out: metrics on ".Length..] : null).Single(u => u is not null)!;
        var before = await PrometheusText.ScrapeAsync(url);
        Assert.Equal(0, PrometheusText.Value(before, "graft_brick_connections"));

        (await m.MountAsync(new() { ["secret-file"] = TestSecret.File })).Ok("graft mount");
        for (int i = 0; i < 5; i++) await File.WriteAllTextAsync(m.P("f" + i), "hello");

        var after = await PrometheusText.ScrapeAsync(url);
        Assert.True(PrometheusText.Value(after, "graft_brick_fop_duration_seconds_count", ("fop", "create")) >= 5);
        Assert.True(PrometheusText.Value(after, "graft_brick_fop_duration_seconds_count", ("fop", "writev")) >= 5);
        Assert.True(PrometheusText.Value(after, "graft_brick_received_bytes_total") > PrometheusText.Value(before, "graft_brick_received_bytes_total"));
        Assert.True(PrometheusText.Value(after, "graft_brick_sent_bytes_total") > PrometheusText.Value(before, "graft_brick_sent_bytes_total"));
        Assert.True(PrometheusText.Value(after, "graft_brick_connections") >= 1);

        Assert.Equal(0, Sys.kill(m.Brick.Pid, 10));
        string? dump = null;
        await Proc.Until(() => (dump = Directory.GetFiles(dumpDir, $"brick-b.{m.Brick.Pid}.dump-*.json").SingleOrDefault()) is not null,
                         "the brick's state dump", seconds: 30);
        var d = JsonDocument.Parse(await File.ReadAllTextAsync(dump!)).RootElement;
        Assert.Equal("b", d.GetProperty("brick").GetString());
        Assert.True(d.GetProperty("connections").GetInt32() >= 1);
        Assert.Contains(d.GetProperty("fops").EnumerateArray(), x => x.GetProperty("fop").GetString() == "create" && x.GetProperty("calls").GetInt64() >= 5);
        Assert.False(m.Brick.HasExited, "the brick lives on after a dump");
    }
}
