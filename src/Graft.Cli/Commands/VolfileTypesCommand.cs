using System.CommandLine;
using System.Globalization;
using Graft.Core;

namespace Graft.Cli.Commands;

/// <summary>`graft volfile types [TYPE]`: the translator types a volfile may use, with their options.</summary>
public static class VolfileTypesCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var type = new Argument<string?>("TYPE")
        {
            Description = "Show only this translator type (e.g. storage/posix).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var cmd = new Command("types",
            "List every translator type a volfile may use, with how many subvolumes it takes and its options: " +
            "type, default, range, whether it can change at run time (reconfigure without a new graph), and what it does.")
        {
            type,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var types = registry();
            var only = parse.GetValue(type);
            var specs = types.All.Where(s => only is null || s.Type == only).ToList();
            if (specs.Count == 0)
            {
                parse.InvocationConfiguration.Error.WriteLine(
                    $"unknown translator type '{only}' (known types: {string.Join(", ", types.All.Select(s => s.Type))})");
                return 1;
            }
            for (int i = 0; i < specs.Count; i++)
            {
                if (i > 0) output.WriteLine();
                Write(output, specs[i]);
            }
            return 0;
        });
        return cmd;
    }

    private static void Write(TextWriter o, XlatorSpec spec)
    {
        o.WriteLine($"{spec.Type}: {spec.Description}");
        o.WriteLine($"  subvolumes: {Children(spec)}");
        if (spec.Options.Count == 0)
        {
            o.WriteLine("  options: none");
            return;
        }
        o.WriteLine("  options:");
        var rows = new List<string[]> { new[] { "NAME", "TYPE", "DEFAULT", "RANGE", "RUNTIME", "DESCRIPTION" } };
        foreach (var s in spec.Options)
        {
            var desc = s.Aliases.Length == 0 ? s.Description : $"{s.Description} (also: {string.Join(", ", s.Aliases)})";
            rows.Add([s.Name, s.Kind.ToString().ToLowerInvariant(), s.Required ? "(required)" : s.Default switch { null => "-", "" => "\"\"", var d => d },
                      Range(s), s.Runtime ? "yes" : "no", desc]);
        }
        var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            o.WriteLine("    " + string.Join("  ", r.Take(5).Select((cell, c) => cell.PadRight(widths[c]))) + "  " + r[5]);
    }

    private static string Children(XlatorSpec spec)
    {
        if (spec.MaxChildren <= 0) return "none (a leaf)";
        if (spec.MinChildren == spec.MaxChildren) return $"exactly {spec.MinChildren}";
        if (spec.MaxChildren == int.MaxValue) return $"at least {spec.MinChildren}";
        return $"{spec.MinChildren} to {spec.MaxChildren}";
    }

    private static string Range(OptionSpec s)
    {
        if (s.Kind == OptionKind.Enum) return string.Join("|", s.Choices ?? []);
        if (s.Kind == OptionKind.Bool) return "on|off";
        if (s.Kind is not (OptionKind.Int or OptionKind.Size or OptionKind.Time or OptionKind.Percent)) return "-";
        if (s.Min == long.MinValue && s.Max == long.MaxValue) return "-";
        if (s.Max == long.MaxValue) return $">= {Value(s.Kind, s.Min)}";
        if (s.Min == long.MinValue) return $"<= {Value(s.Kind, s.Max)}";
        return $"{Value(s.Kind, s.Min)}..{Value(s.Kind, s.Max)}";
    }

    private static string Value(OptionKind kind, long v) => kind switch
    {
        OptionKind.Size => OptionSpec.FormatSize(v),
        OptionKind.Time => v % 1000 == 0 ? $"{v / 1000}s" : $"{v}ms",
        OptionKind.Percent => $"{v}%",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };
}
