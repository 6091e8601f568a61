using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using Graft.Cli.Commands;
using Graft.Core;
using Graft.Xlators;

// graft runs on Linux only (FUSE, *at() syscalls, Unix file modes for what its daemons must trust).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Graft.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs the CLI with the given streams, so tests can run it in-process and in parallel: nothing
    /// here touches Console or other process-wide state.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
        => Run(args, output, error, BuiltinXlators.CreateRegistry);

    /// <summary>As <see cref="Run(string[], TextWriter, TextWriter)"/>, with the translator types volfiles are checked against.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, Func<XlatorRegistry> registry)
    {
        var root = new RootCommand("graft: a scale-out network filesystem whose client graph can be replaced while files stay open.");
        // Each verb lives in Commands/<Verb>Command.cs and exposes Create().
        root.Subcommands.Add(VolfileCommand.Create(registry));
        root.Subcommands.Add(BrickCommand.Create());
        root.Subcommands.Add(MountCommand.Create(registry));
        root.Subcommands.Add(MountCommand.CreateUmount());
        root.Subcommands.Add(MountCommand.CreateState());
        root.Subcommands.Add(TopCommand.Create());
        root.Subcommands.Add(UpCommand.Create());
        root.Subcommands.Add(UpCommand.CreateDown());
        root.Subcommands.Add(RebalanceCommand.Create(registry));
        root.Subcommands.Add(HealCommand.Create(registry));
        root.Subcommands.Add(DaemonCommand.Create());
        root.Subcommands.Add(VolumeCommand.Create());
        root.Subcommands.Add(PeerCommand.Create());
        root.Subcommands.Add(InstallCommand.Create());
        // The built-in --version reports the entry assembly, which is the test host when the CLI
        // runs in-process; report this assembly's version instead.
        foreach (var o in root.Options)
            if (o is VersionOption v) v.Action = new PrintVersion();
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var asm = typeof(Program).Assembly;
            var version = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                          ?? asm.GetName().Version?.ToString() ?? "unknown";
            parseResult.InvocationConfiguration.Output.WriteLine(version);
            return 0;
        }
    }
}
