using System.CommandLine;
using System.Text.Json.Nodes;
using static Graft.Cli.Commands.ControlConnection;

namespace Graft.Cli.Commands;

/// <summary>`graft volume add-brick`, `remove-brick ... start|status|commit`, `rebalance NAME start|status|stop`.</summary>
public static class VolumeBrickCommands
{
    public static IEnumerable<Command> Create()
    {
        var name = new Argument<string>("NAME");
        var bricks = new Argument<string[]>("HOST:/DIR") { Arity = ArgumentArity.OneOrMore };
        var add = new Command("add-brick", "Add bricks: mounted clients switch to a graph with one more subvolume under cluster/distribute, and the daemon runs a fix-layout so new files can land on them.") { name, bricks };
        add.SetAction((parse, ct) => RunAsync(parse, "volume add-brick", async (c, o) =>
        {
            var r = await c.CallAsync("volume.add-brick", new JsonObject
            {
                ["name"] = parse.GetValue(name), ["bricks"] = new JsonArray([.. parse.GetValue(bricks)!.Select(b => (JsonNode)b)]),
            }, ct);
            if (parse.GetValue(Json)) PrintJson(o, r); else o.WriteLine("volume add-brick: success");
            return 0;
        }, ct));
        yield return add;

        var rName = new Argument<string>("NAME");
        var rArgs = new Argument<string[]>("HOST:/DIR... start|status|commit") { Arity = ArgumentArity.OneOrMore };
        var remove = new Command("remove-brick", "Remove bricks: `start` drains their files onto the others (graft rebalance --remove), `status` shows progress, `commit` takes them out of the volume.") { rName, rArgs };
        remove.SetAction((parse, ct) => RunAsync(parse, "volume remove-brick", async (c, o) =>
        {
            var args = parse.GetValue(rArgs)!;
            var action = args[^1];
            if (action is not ("start" or "status" or "commit") || args.Length < 2 && action != "status")
                throw new FormatException("give the bricks, then start, status or commit");
            var r = await c.CallAsync("volume.remove-brick", new JsonObject
            {
                ["name"] = parse.GetValue(rName), ["action"] = action, ["bricks"] = new JsonArray([.. args[..^1].Select(b => (JsonNode)b)]),
            }, ct);
            if (parse.GetValue(Json) || action == "status") PrintJson(o, r); else o.WriteLine($"volume remove-brick {action}: success");
            return 0;
        }, ct));
        yield return remove;

        var bName = new Argument<string>("NAME");
        var bAction = new Argument<string>("start|status|stop");
        var rebalance = new Command("rebalance", "Move files to where the layout wants them (run once in the cluster, by the daemon leading its jobs); status shows graft rebalance's progress.") { bName, bAction };
        rebalance.SetAction((parse, ct) => RunAsync(parse, "volume rebalance", async (c, o) =>
        {
            var r = await c.CallAsync("volume.rebalance", new JsonObject { ["name"] = parse.GetValue(bName), ["action"] = parse.GetValue(bAction) }, ct);
            if (parse.GetValue(Json)) { PrintJson(o, r); return 0; }
            o.WriteLine($"rebalance of {S(r?["volume"])}: {S(r?["state"])}{(r?["leader"] is { } l ? " (run by " + S(l) + ")" : "")}");
            if (S(r?["output"]) is { Length: > 0 } text) o.WriteLine(text);
            return 0;
        }, ct));
        yield return rebalance;
    }
}
