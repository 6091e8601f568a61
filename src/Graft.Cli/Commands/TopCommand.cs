using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Graft.Core.Diagnostics;
using Graft.Mount;
using Graft.Mount.Control;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft top MOUNTPOINT`: a live view of a mount — calls per second and latency percentiles per fop, switches,
/// migrations, open files — refreshed every interval. Reads the mount daemon's control socket ("metrics"), so it
/// needs no metrics endpoint. `--once` prints one table (over one interval) and exits; `--json` prints that as JSON.
/// </summary>
public static class TopCommand
{
    public static Command Create()
    {
        var mountPoint = new Argument<DirectoryInfo>("MOUNTPOINT");
        var once = new Option<bool>("--once") { Description = "Print one view (measured over one interval) and exit." };
        var json = new Option<bool>("--json") { Description = "Print the view as JSON (implies --once unless --count is given)." };
        var interval = new Option<double>("--interval", "-n") { Description = "Seconds between refreshes (and the window rates and percentiles are measured over).", DefaultValueFactory = _ => 1 };
        interval.Validators.Add(r => { if (r.GetValueOrDefault<double>() is < 0.05 or > 3600 or double.NaN) r.AddError("--interval must be between 0.05 and 3600 seconds"); });
        var count = new Option<int?>("--count") { Description = "Stop after this many views." };
        var cmd = new Command("top", "Live view of a mount: calls/s and latency (p50/p90/p99) per fop, switches, fd migrations, open files. Ctrl-C ends it.")
        {
            mountPoint, once, json, interval, count,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var mp = Daemons.FullPath(parse.GetValue(mountPoint)!.FullName);
            var every = TimeSpan.FromSeconds(parse.GetValue(interval));
            var asJson = parse.GetValue(json);
            int views = parse.GetValue(count) ?? (parse.GetValue(once) || asJson ? 1 : int.MaxValue);
            var before = Query(mp, error);
            if (before is null) return 1;
            for (int shown = 0; shown < views; shown++)
            {
                try { await Task.Delay(every, ct); }
                catch (OperationCanceledException) { return 0; }
                var now = Query(mp, error);
                if (now is null) return 1;
                var view = TopView.Between(mp, before, now);
                if (asJson) output.WriteLine(view.ToJson());
                else
                {
                    if (views > 1) output.Write("\e[H\e[2J");   // a refreshing table: home, clear
                    output.Write(view.ToTable());
                }
                output.Flush();
                before = now;
            }
            return 0;
        });
        return cmd;
    }

    static MountMetricsSnapshot? Query(string mp, TextWriter error)
    {
        string reply;
        try { reply = ControlClient.Send(ControlClient.SocketPathFor(mp), "metrics", TimeSpan.FromSeconds(5)); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            error.WriteLine($"graft top: no graft mount daemon answers for {mp} (socket {ControlClient.SocketPathFor(mp)})");
            return null;
        }
        try
        {
            if (MountMetricsSnapshot.FromJson(reply) is { Counters: not null, Fops: not null } s) return s;
        }
        catch (JsonException) { }
        error.WriteLine($"graft top: the mount daemon of {mp} does not answer 'metrics' (an older graft?): {reply}");
        return null;
    }
}

/// <summary>One view of `graft top`: what happened on a mount between two metrics snapshots.</summary>
public sealed record TopView(
    string MountPoint, int Pid, double IntervalSeconds, long ActiveGeneration, int Graphs, int OpenFiles, int Nodes, long FopsInFlight,
    long Switches, long SwitchesInInterval, long FdMigrations, long FdMigrationsInInterval, long FdMigrationFailures, long HandlesSwept,
    double FopsPerSecond, IReadOnlyList<TopFop> Fops)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static TopView Between(string mp, MountMetricsSnapshot a, MountMetricsSnapshot b)
    {
        var dt = Math.Max((b.Time - a.Time).TotalSeconds, 1e-6);
        var earlier = a.Fops.ToDictionary(f => f.Fop, StringComparer.Ordinal);
        var fops = new List<TopFop>();
        foreach (var f in b.Fops)
        {
            var d = f.Since(earlier.GetValueOrDefault(f.Fop));
            fops.Add(new TopFop(f.Fop, f.Calls, d.Calls, d.Calls / dt, d.Calls == 0 ? 0 : (double)d.TotalMicroseconds / d.Calls,
                FopLatencySnapshot.Percentile(d.Buckets, 0.5), FopLatencySnapshot.Percentile(d.Buckets, 0.9), FopLatencySnapshot.Percentile(d.Buckets, 0.99)));
        }
        fops.Sort((x, y) => y.CallsInInterval != x.CallsInInterval ? y.CallsInInterval.CompareTo(x.CallsInInterval) : y.Calls.CompareTo(x.Calls));
        var c = b.Counters;
        return new TopView(mp, b.Pid, dt, b.ActiveGeneration, b.Graphs, b.OpenFileCount, b.Nodes, b.FopsInFlight,
            c.Switches, c.Switches - a.Counters.Switches, c.FdMigrations, c.FdMigrations - a.Counters.FdMigrations, c.FdMigrationFailures,
            c.HandlesSwept, fops.Sum(f => f.CallsInInterval) / dt, fops);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string ToTable()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"graft top {MountPoint} (pid {Pid})  every {IntervalSeconds:0.##}s  {DateTime.Now:HH:mm:ss}\n");
        sb.Append(inv, $"generation {ActiveGeneration} ({Graphs} graph{(Graphs == 1 ? "" : "s")} held)  open files {OpenFiles}  nodes {Nodes}  in flight {FopsInFlight}\n");
        sb.Append(inv, $"switches {Switches} (+{SwitchesInInterval})  fd migrations {FdMigrations} (+{FdMigrationsInInterval}, {FdMigrationFailures} failed)  swept {HandlesSwept}  total {FopsPerSecond:0.#} calls/s\n\n");
        sb.Append(inv, $"{"FOP",-16}{"CALLS/S",10}{"AVG",10}{"P50",10}{"P90",10}{"P99",10}{"TOTAL",12}\n");
        foreach (var f in Fops)
            sb.Append(inv, $"{f.Fop,-16}{f.PerSecond,10:0.#}{Us(f.AvgMicroseconds),10}{Us(f.P50Microseconds),10}{Us(f.P90Microseconds),10}{Us(f.P99Microseconds),10}{f.Calls,12}\n");
        return sb.ToString();
    }

    /// <summary>A latency for the table: µs below a millisecond, then ms, then s.</summary>
    static string Us(double us) => us <= 0 ? "-"
        : us < 1000 ? us.ToString("0", CultureInfo.InvariantCulture) + "µs"
        : us < 1_000_000 ? (us / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "ms"
        : (us / 1_000_000).ToString("0.##", CultureInfo.InvariantCulture) + "s";
}

/// <summary>One fop in a <see cref="TopView"/>: calls since the mount started and in the interval, and the interval's latency (µs; percentiles are bucket bounds, within 19%).</summary>
public sealed record TopFop(string Fop, long Calls, long CallsInInterval, double PerSecond, double AvgMicroseconds,
                            double P50Microseconds, double P90Microseconds, double P99Microseconds);
