using System.Text;

namespace Graft.Core;

/// <summary>
/// Writes volfile text in the layout GlusterFS uses (four-space indent, a blank line between
/// volumes). Comments are not kept. Parsing what it writes gives back the same volumes, types,
/// options and subvolumes.
/// </summary>
public static class VolfileWriter
{
    public static string Write(VolfileModel model)
    {
        var sb = new StringBuilder();
        foreach (var v in model.Volumes)
            WriteVolume(sb, v.Name, v.Type, v.Options.Select(o => (o.Key, o.Value)), v.Subvolumes);
        return sb.ToString();
    }

    /// <summary>
    /// Writes a live graph: translators bottom-up (so the top is last), each with the options
    /// given for it (as written, in the order its type declares them).
    /// </summary>
    public static string Write(Graph graph)
    {
        var sb = new StringBuilder();
        foreach (var t in graph.Translators)
            WriteVolume(sb, t.Name, t.Type, OrderedRaw(t.Options), t.Children.Select(c => c.Name).ToList());
        return sb.ToString();
    }

    private static IEnumerable<(string Key, string Value)> OrderedRaw(OptionValues options)
    {
        var raw = options.Raw;
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in options.Specs)
            foreach (var n in s.Aliases.Prepend(s.Name))
                if (raw.TryGetValue(n, out var val) && written.Add(n)) yield return (n, val);
        foreach (var (k, val) in raw.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (written.Add(k)) yield return (k, val);
    }

    private static void WriteVolume(StringBuilder sb, string name, string type,
                                    IEnumerable<(string Key, string Value)> options, IReadOnlyList<string> subvolumes)
    {
        if (sb.Length > 0) sb.Append('\n');
        sb.Append("volume ").Append(name).Append('\n');
        sb.Append("    type ").Append(type).Append('\n');
        foreach (var (k, v) in options) sb.Append("    option ").Append(k).Append(' ').Append(v).Append('\n');
        if (subvolumes.Count > 0) sb.Append("    subvolumes ").Append(string.Join(' ', subvolumes)).Append('\n');
        sb.Append("end-volume\n");
    }
}
