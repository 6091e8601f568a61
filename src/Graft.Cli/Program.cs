using System.CommandLine;
using Graft.Cli.Commands;

namespace Graft.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs the CLI with the given streams, so tests can run it in-process and in parallel: nothing
    /// here touches Console or other process-wide state.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("graft: a scale-out network filesystem whose client graph can be replaced while files stay open.");
        // Each verb lives in Commands/<Verb>Command.cs and exposes Create().
        root.Subcommands.Add(VolfileCommand.Create());
        root.Subcommands.Add(BrickCommand.Create());
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}
