using System.CommandLine;
using System.Text.Json.Nodes;
using static Graft.Cli.Commands.ControlConnection;

namespace Graft.Cli.Commands;

/// <summary>`graft volume set NAME KEY VALUE`, `reset NAME KEY`, `get NAME KEY|all`.</summary>
public static class VolumeOptionCommands
{
    public static IEnumerable<Command> Create()
    {
        var name = new Argument<string>("NAME");
        var key = new Argument<string>("KEY");
        var value = new Argument<string>("VALUE");
        var set = new Command("set", "Set a key; every mounted client gets the new volfile (in place for run-time options, else a new graph with files kept open). `volume get NAME all` lists the keys.") { name, key, value };
        set.SetAction((parse, ct) => RunAsync(parse, "volume set", async (c, o) =>
        {
            var r = await c.CallAsync("volume.set", new JsonObject { ["name"] = parse.GetValue(name), ["key"] = parse.GetValue(key), ["value"] = parse.GetValue(value) }, ct);
            if (parse.GetValue(Json)) PrintJson(o, r); else o.WriteLine("volume set: success");
            return 0;
        }, ct));
        yield return set;

        var rName = new Argument<string>("NAME");
        var rKey = new Argument<string>("KEY") { Description = "A key, or all." };
        var reset = new Command("reset", "Give a key (or all keys) back its default.") { rName, rKey };
        reset.SetAction((parse, ct) => RunAsync(parse, "volume reset", async (c, o) =>
        {
            var r = await c.CallAsync("volume.reset", new JsonObject { ["name"] = parse.GetValue(rName), ["key"] = parse.GetValue(rKey) }, ct);
            if (parse.GetValue(Json)) PrintJson(o, r); else o.WriteLine("volume reset: success");
            return 0;
        }, ct));
        yield return reset;

        var gName = new Argument<string>("NAME");
        var gKey = new Argument<string>("KEY") { Description = "A key, or all." };
        var get = new Command("get", "Show a key's value, or every key with its value, default, how a change applies and what it does.") { gName, gKey };
        get.SetAction((parse, ct) => RunAsync(parse, "volume get", async (c, o) =>
        {
            var r = (JsonArray)(await c.CallAsync("volume.get", new JsonObject { ["name"] = parse.GetValue(gName), ["key"] = parse.GetValue(gKey) }, ct))!;
            if (parse.GetValue(Json)) { PrintJson(o, r); return 0; }
            o.WriteLine($"{"Option",-40} {"Value",-12} {"Default",-12} Applied");
            foreach (var k in r)
            {
                o.WriteLine($"{S(k!["key"]),-40} {S(k["value"]),-12} {S(k["default"]),-12} {S(k["effect"])}");
                o.WriteLine($"    {S(k["description"])}");
            }
            return 0;
        }, ct));
        yield return get;
    }
}
