using System.CommandLine;
using Graft.Cli.Commands;

namespace Graft.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("graft: a scale-out network filesystem whose client graph can be replaced while files stay open.");
        // Each verb lives in Commands/<Verb>Command.cs and exposes Create().
        root.Subcommands.Add(VolfileCommand.Create());
        return root.Parse(args).Invoke();
    }
}
