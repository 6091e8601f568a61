using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Graft.Cli.Commands;

/// <summary>`graft volume create NAME [replica N] HOST:/DIR... [force]`.</summary>
public static class VolumeCreateCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The volume's name." };
        var rest = new Argument<string[]>("ARGS") { Description = "[replica N] HOST:/DIR... [force]", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("create", "Create a volume from bricks (HOST:/DIR, HOST a peer); `replica N` makes sets of N copies (with cluster/replicate). Start it with graft volume start.") { name, rest };
        cmd.SetAction((parse, ct) => ControlConnection.RunAsync(parse, "volume create", async (c, o) =>
        {
            var args = parse.GetValue(rest)!.ToList();
            int replica = 1;
            if (args.Count >= 2 && args[0] == "replica")
            {
                if (!int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out replica) || replica < 1)
                    throw new FormatException($"replica {args[1]}: give a count of 1 or more");
                args.RemoveRange(0, 2);
            }
            // GlusterFS wants `force` for bricks on the root filesystem; bricks here may be anywhere, so it is accepted and changes nothing.
            if (args.Count > 0 && args[^1] == "force") args.RemoveAt(args.Count - 1);
            var r = await c.CallAsync("volume.create", new JsonObject
            {
                ["name"] = parse.GetValue(name), ["replica"] = replica, ["bricks"] = new JsonArray([.. args.Select(a => (JsonNode)a)]),
            }, ct);
            if (parse.GetValue(ControlConnection.Json)) ControlConnection.PrintJson(o, r);
            else o.WriteLine($"volume create: {parse.GetValue(name)}: success: please start the volume to access data");
            return 0;
        }, ct));
        return cmd;
    }
}
