using System.CommandLine;

namespace Graft.Cli.Commands;

/// <summary>`graft [--server HOST[:PORT]] volume VERB ...`: the management daemon's volumes (docs/management.md).</summary>
public static class VolumeCommand
{
    public static Command Create()
    {
        var cmd = new Command("volume", "Create, start, change and inspect volumes through the management daemon (graft daemon).");
        foreach (var o in ControlConnection.All) cmd.Options.Add(o);
        cmd.Subcommands.Add(VolumeCreateCommand.Create());
        foreach (var c in VolumeStateCommands.Create()) cmd.Subcommands.Add(c);
        foreach (var c in VolumeInfoCommands.Create()) cmd.Subcommands.Add(c);
        foreach (var c in VolumeOptionCommands.Create()) cmd.Subcommands.Add(c);
        foreach (var c in VolumeBrickCommands.Create()) cmd.Subcommands.Add(c);
        cmd.Subcommands.Add(VolumeHealCommand.Create());
        return cmd;
    }
}
