using System.CommandLine;
using Graft.Cli.Text;
using Graft.Core;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile check FILE`: validate a volfile and show the graph it builds.</summary>
public static class VolfileCheckCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The volfile to check." };
        var cmd = new Command("check",
            "Check a volfile against the built-in translator types and print its graph as a tree, top first. " +
            "On an error, print it with its file and line on stderr and exit with 1.")
        {
            file,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var path = parse.GetRequiredValue(file);
            try
            {
                var model = VolfileModel.Load(path.ToString());
                var graph = GraphBuilder.Build(model, registry(), generation: 0);
                output.WriteLine($"{model.File}: OK, {graph.Translators.Count} translator{(graph.Translators.Count == 1 ? "" : "s")}, top '{graph.Top.Name}'");
                GraphTree.Write(output, graph);
                return 0;
            }
            catch (VolfileException e)
            {
                error.WriteLine(e.Message);
                return 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"{path}: cannot read: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
