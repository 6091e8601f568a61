using System.CommandLine;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile ...`: work with volfiles.</summary>
public static class VolfileCommand
{
    public static Command Create()
    {
        var cmd = new Command("volfile", "Work with volfiles: the text files that describe a graph of translators.");
        cmd.Subcommands.Add(VolfileCheckCommand.Create());
        cmd.Subcommands.Add(VolfileTypesCommand.Create());
        return cmd;
    }
}
