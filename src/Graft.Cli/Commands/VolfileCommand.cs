using System.CommandLine;
using Graft.Core;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile ...`: work with volfiles.</summary>
public static class VolfileCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var cmd = new Command("volfile", "Work with volfiles: the text files that describe a graph of translators.");
        cmd.Subcommands.Add(VolfileCheckCommand.Create(registry));
        cmd.Subcommands.Add(VolfileTypesCommand.Create(registry));
        cmd.Subcommands.Add(VolfileDiffCommand.Create(registry));
        return cmd;
    }
}
