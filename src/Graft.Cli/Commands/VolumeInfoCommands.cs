using System.CommandLine;
using System.Text.Json.Nodes;
using static Graft.Cli.Commands.ControlConnection;

namespace Graft.Cli.Commands;

/// <summary>`graft volume info [NAME]` and `graft volume status [NAME] [--json]`.</summary>
public static class VolumeInfoCommands
{
    public static IEnumerable<Command> Create()
    {
        var infoName = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne };
        var info = new Command("info", "Show volumes: type, state, bricks and the keys set.") { infoName };
        info.SetAction((parse, ct) => RunAsync(parse, "volume info", async (c, o) =>
        {
            var r = (JsonArray)(await c.CallAsync("volume.info", new JsonObject { ["name"] = parse.GetValue(infoName) }, ct))!;
            if (parse.GetValue(Json)) { PrintJson(o, r); return 0; }
            if (r.Count == 0) o.WriteLine("No volumes present");
            foreach (var v in r)
            {
                o.WriteLine($"Volume Name: {S(v!["name"])}");
                o.WriteLine($"Type: {S(v["type"])}");
                o.WriteLine($"Volume ID: {S(v["id"])}");
                o.WriteLine($"Status: {S(v["state"])}");
                var bricks = (JsonArray)v["bricks"]!;
                o.WriteLine($"Number of Bricks: {bricks.Count}");
                for (int i = 0; i < bricks.Count; i++)
                    o.WriteLine($"Brick{i + 1}: {S(bricks[i]!["host"])}:{S(bricks[i]!["path"])}{(bricks[i]!["removing"]!.GetValue<bool>() ? " (being removed)" : "")}");
                var opts = (JsonObject)v["options"]!;
                if (opts.Count > 0)
                {
                    o.WriteLine("Options Reconfigured:");
                    foreach (var (k, val) in opts) o.WriteLine($"{k}: {S(val)}");
                }
                o.WriteLine();
            }
            return 0;
        }, ct));
        yield return info;

        var statusName = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne };
        var status = new Command("status", "Show the bricks' processes (port, pid, online, restarts) and the mounted clients. Online is ? for a brick whose host's daemon is down: its last status is not known to hold.") { statusName };
        status.SetAction((parse, ct) => RunAsync(parse, "volume status", async (c, o) =>
        {
            var r = (JsonArray)(await c.CallAsync("volume.status", new JsonObject { ["name"] = parse.GetValue(statusName) }, ct))!;
            if (parse.GetValue(Json))
            {
                // One volume asked for: its object, as documented; all volumes: the list.
                PrintJson(o, parse.GetValue(statusName) is null ? r : r[0]);
                return 0;
            }
            foreach (var v in r)
            {
                o.WriteLine($"Status of volume: {S(v!["name"])} ({S(v["state"])}), clients: {S(v["clients"])}");
                o.WriteLine($"{"Brick",-48} {"Port",6} {"Online",6} {"Pid",8} {"Restarts",8}");
                foreach (var b in (JsonArray)v["bricks"]!)
                    o.WriteLine($"{S(b!["host"]) + ":" + S(b["path"]),-48} {S(b["port"]),6} {Online(b),6} {S(b["pid"]),8} {S(b["restarts"]),8}");
                o.WriteLine();
            }
            return 0;
        }, ct));
        yield return status;
    }

    /// <summary>Y, N, or ? when the brick's daemon is down (its last status is not known to hold).</summary>
    private static string Online(JsonNode b) =>
        S(b["daemon"]) == "down" ? "?" : b["online"]!.GetValue<bool>() ? "Y" : "N";
}
