using System.CommandLine;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile ...`: work with volfiles.</summary>
public static class VolfileCommand
{
    public static Command Create()
    {
        var cmd = new Command("volfile", "Work with volfiles (graph descriptions).");
        return cmd;
    }
}
