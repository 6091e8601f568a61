using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using static Graft.Cli.Commands.ControlConnection;

namespace Graft.Cli.Commands;

/// <summary>`graft volume heal NAME [info]`: a heal sweep by the daemons' leader, or what needs heal now (docs/management.md).</summary>
public static class VolumeHealCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME");
        var action = new Argument<string?>("info") { Arity = ArgumentArity.ZeroOrOne, Description = "List what needs heal per brick, the split brains and the last sweep, instead of asking for a sweep." };
        var cmd = new Command("heal",
            "Heal a replicated volume: the daemon leading the cluster's jobs runs a heal sweep (graft heal over the bricks' heal indexes) now; " +
            "it also sweeps every cluster.heal-interval and when a brick comes back. `info` shows, per brick, the objects its index lists, " +
            "the objects pending or in split brain, and the last sweep.") { name, action };
        cmd.SetAction((parse, ct) => RunAsync(parse, "volume heal", async (c, o) =>
        {
            var act = parse.GetValue(action);
            if (act is not (null or "info")) throw new FormatException($"volume heal NAME [info], not '{act}'");
            var r = await c.CallAsync("volume.heal", new JsonObject { ["name"] = parse.GetValue(name), ["action"] = act ?? "start" }, ct);
            if (parse.GetValue(Json)) { PrintJson(o, r); return 0; }
            if (act is null)
            {
                o.WriteLine($"volume heal: {parse.GetValue(name)}: a heal sweep is asked for; the daemon leading the jobs runs it (graft volume heal {parse.GetValue(name)} info shows it)");
                return 0;
            }
            foreach (var b in r?["bricks"]?.AsArray() ?? [])
            {
                o.WriteLine($"Brick {S(b?["host"])}:{S(b?["path"])}");
                bool up = b?["connected"]?.GetValue<bool>() == true;
                o.WriteLine($"Status: {(up ? "Connected" : "Not connected")}");
                o.WriteLine($"Number of entries: {(up ? S(b?["entries"]) : "-")}");
                o.WriteLine();
            }
            foreach (var e in r?["entries"]?.AsArray() ?? [])
                if (S(e?["state"]) != "healed") o.WriteLine($"{S(e?["state"])}: {S(e?["path"])}");
            o.WriteLine($"heal info: {S(r?["pending"])} pending, {S(r?["splitBrain"])} split-brain");
            if (r?["error"] is { } err) o.WriteLine($"could not look at every brick: {S(err)}");
            o.WriteLine(Sweeps(r?["sweep"]));
            return 0;
        }, ct));
        return cmd;
    }

    /// <summary>The sweeps' record in a few lines: the running one, the last one, the interval.</summary>
    private static string Sweeps(JsonNode? s)
    {
        var lines = new List<string>();
        if (s?["running"] is { } run)
            lines.Add($"sweep running since {Time(run["startedUnixMs"])} ({S(run["trigger"])}), on {S(s["leader"])}");
        else if (s?["requested"]?.GetValue<bool>() == true) lines.Add("sweep asked for, not started yet");
        if (s?["last"] is { } last)
            lines.Add($"last sweep: {Time(last["startedUnixMs"])} ({S(last["trigger"])}), {S(last["result"])}: " +
                      $"{S(last["healed"])} healed, {S(last["pending"])} pending, {S(last["splitBrain"])} split-brain");
        else lines.Add("last sweep: none yet");
        var interval = s?["intervalSeconds"]?.GetValue<long>() ?? 0;
        lines.Add(interval > 0 ? $"sweeps every {interval}s (cluster.heal-interval)" : "no periodic sweeps (cluster.heal-interval 0)");
        return string.Join(Environment.NewLine, lines);
    }

    private static string Time(JsonNode? unixMs) =>
        unixMs is null ? "?" : DateTimeOffset.FromUnixTimeMilliseconds(unixMs.GetValue<long>()).ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
