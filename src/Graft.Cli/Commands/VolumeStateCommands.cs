using System.CommandLine;
using System.Text.Json.Nodes;

namespace Graft.Cli.Commands;

/// <summary>`graft volume start|stop|delete NAME`.</summary>
public static class VolumeStateCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Verb("start", "Start the volume: every host's daemon starts its bricks; returns once this host's are up.", "volume.start");
        yield return Verb("stop", "Stop the volume's bricks (mounts keep their last volfile and fail I/O until it starts again).", "volume.stop");
        yield return Verb("delete", "Delete a stopped volume (the brick directories and their files stay).", "volume.delete");
    }

    static Command Verb(string verb, string description, string op)
    {
        var name = new Argument<string>("NAME");
        var cmd = new Command(verb, description) { name };
        cmd.SetAction((parse, ct) => ControlConnection.RunAsync(parse, "volume " + verb, async (c, o) =>
        {
            var r = await c.CallAsync(op, new JsonObject { ["name"] = parse.GetValue(name) }, ct);
            if (parse.GetValue(ControlConnection.Json)) ControlConnection.PrintJson(o, r);
            else o.WriteLine($"volume {verb}: {parse.GetValue(name)}: success");
            return 0;
        }, ct));
        return cmd;
    }
}
