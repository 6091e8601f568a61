using System.CommandLine;
using Graft.Core;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile diff OLD NEW`: would a running graph take NEW in place, or need a new graph?</summary>
public static class VolfileDiffCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var oldFile = new Argument<FileInfo>("OLD") { Description = "The volfile the graph runs now." };
        var newFile = new Argument<FileInfo>("NEW") { Description = "The volfile it would be given." };
        var cmd = new Command("diff",
            "Tell what applying NEW to a graph running OLD takes: nothing (identical), a reconfigure in place " +
            "(only options changeable at run time differ; each change is listed), or a new graph (with the reason). " +
            "Exits with 0 when both files are valid, 1 with the error otherwise.")
        {
            oldFile,
            newFile,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            string current = "";
            try
            {
                current = parse.GetRequiredValue(oldFile).ToString();
                var a = VolfileModel.Load(current);
                current = parse.GetRequiredValue(newFile).ToString();
                var b = VolfileModel.Load(current);
                var diff = VolfileDiff.Compare(a, b, registry());
                switch (diff.Kind)
                {
                    case VolfileChangeKind.Identical:
                        output.WriteLine("identical: nothing to do");
                        break;
                    case VolfileChangeKind.Reconfigure:
                        output.WriteLine($"reconfigure in place: {diff.Changes.Count} option{(diff.Changes.Count == 1 ? "" : "s")} changed");
                        foreach (var c in diff.Changes) output.WriteLine($"  {c}");
                        break;
                    default:
                        output.WriteLine($"new graph: {diff.Reason}");
                        break;
                }
                return 0;
            }
            catch (VolfileException e)
            {
                error.WriteLine(e.Message);
                return 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"{current}: cannot read: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
