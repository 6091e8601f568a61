using Graft.Core;

namespace Graft.Cli.Text;

/// <summary>
/// Prints a graph top first, children indented under their parent with box-drawing lines, one
/// translator per line: <c>name (type)</c> and the options the volfile gives it.
/// </summary>
public static class GraphTree
{
    public static void Write(TextWriter output, Graph graph) => Write(output, graph.Top, "", "");

    private static void Write(TextWriter output, Translator t, string lead, string childLead)
    {
        output.Write(lead);
        output.Write(t.Name);
        output.Write(" (");
        output.Write(t.Type);
        output.Write(')');
        foreach (var (k, v) in t.Options.Raw.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            output.Write(' ');
            output.Write(k);
            output.Write('=');
            output.Write(v.Contains(' ') ? $"\"{v}\"" : v);
        }
        output.WriteLine();
        for (int i = 0; i < t.Children.Count; i++)
        {
            bool last = i == t.Children.Count - 1;
            // A translator shared by several parents is printed under each of them.
            Write(output, t.Children[i], childLead + (last ? "└── " : "├── "), childLead + (last ? "    " : "│   "));
        }
    }
}
