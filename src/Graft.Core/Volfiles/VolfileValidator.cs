namespace Graft.Core;

/// <summary>
/// Checks a parsed volfile against the translator types: every type is known, every option is
/// declared and valid, required options are given, every subvolume is defined, there is no cycle,
/// each translator gets the number of children its type takes, and the last volume is the only
/// one no other volume names (it is the top). Errors point at the line that is wrong.
/// </summary>
internal static class VolfileValidator
{
    public static void Validate(VolfileModel model, XlatorRegistry registry)
    {
        foreach (var v in model.Volumes) ValidateVolume(model, v, registry);
        CheckAcyclic(model);
        CheckTopAndUse(model);
    }

    /// <summary>The spec for a volume's type, or an error at its <c>type</c> line.</summary>
    public static XlatorSpec SpecFor(VolfileModel model, VolfileVolume v, XlatorRegistry registry)
    {
        var spec = registry.Find(v.Type);
        if (spec is null)
        {
            var known = string.Join(", ", registry.All.Select(s => s.Type));
            throw new VolfileException(model.File, v.TypeLine, v.Name, $"unknown type '{v.Type}' (known types: {known})");
        }
        return spec;
    }

    /// <summary>Validates a volume's options and returns them as <see cref="OptionValues"/> (defaults filled in).</summary>
    public static OptionValues OptionsFor(VolfileModel model, VolfileVolume v, XlatorSpec spec)
    {
        var seen = new Dictionary<OptionSpec, VolfileOption>();
        var raw = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var o in v.Options)
        {
            var s = spec.FindOption(o.Key);
            if (s is null)
            {
                string known = spec.Options.Count == 0 ? $"{spec.Type} takes no options"
                    : "known options: " + string.Join(", ", spec.Options.Select(x => x.Name));
                throw new VolfileException(model.File, o.Line, v.Name, $"unknown option '{o.Key}' for {spec.Type} ({known})");
            }
            if (seen.TryGetValue(s, out var prev))
                throw new VolfileException(model.File, o.Line, v.Name,
                    $"option '{o.Key}' sets '{s.Name}' again (already set as '{prev.Key}' on line {prev.Line})");
            seen[s] = o;
            if (s.Parse(o.Value, out var err) is null)
                throw new VolfileException(model.File, o.Line, v.Name, $"option '{o.Key}': {err}");
            raw[o.Key] = o.Value;
        }
        foreach (var s in spec.Options)
            if (s.Required && !seen.ContainsKey(s))
                throw new VolfileException(model.File, v.Line, v.Name, $"missing required option '{s.Name}' ({spec.Type}: {s.Description})");
        try { return new OptionValues(spec.Options, raw); }
        catch (ArgumentException e) // a bad default in a spec: a bug in the translator, reported where it shows
        {
            throw new VolfileException(model.File, v.Line, v.Name, $"{spec.Type}: {e.Message}");
        }
    }

    private static void ValidateVolume(VolfileModel model, VolfileVolume v, XlatorRegistry registry)
    {
        var spec = SpecFor(model, v, registry);
        OptionsFor(model, v, spec);
        foreach (var s in v.Subvolumes)
        {
            if (s == v.Name) throw new VolfileException(model.File, v.SubvolumesLine, v.Name, "names itself as a subvolume (a cycle)");
            if (model.Find(s) is null) throw new VolfileException(model.File, v.SubvolumesLine, v.Name, $"subvolume '{s}' is not defined");
        }
        int n = v.Subvolumes.Count;
        if (n < spec.MinChildren || n > spec.MaxChildren)
        {
            int line = v.SubvolumesLine != 0 ? v.SubvolumesLine : v.Line;
            throw new VolfileException(model.File, line, v.Name, $"{spec.Type} takes {DescribeChildren(spec)}, got {n}");
        }
    }

    /// <summary>"no subvolumes", "exactly 1 subvolume", "at least 2 subvolumes", "1 to 8 subvolumes".</summary>
    public static string DescribeChildren(XlatorSpec spec)
    {
        static string Sub(int k) => k == 1 ? "subvolume" : "subvolumes";
        if (spec.MaxChildren <= 0) return "no subvolumes";
        if (spec.MinChildren == spec.MaxChildren) return $"exactly {spec.MinChildren} {Sub(spec.MinChildren)}";
        if (spec.MaxChildren == int.MaxValue) return $"at least {spec.MinChildren} {Sub(spec.MinChildren)}";
        return $"{spec.MinChildren} to {spec.MaxChildren} subvolumes";
    }

    private static void CheckAcyclic(VolfileModel model)
    {
        // Depth-first search; a child found "in progress" closes a cycle, reported on the
        // subvolumes line of the volume whose edge closes it.
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = in progress, 2 = done
        var path = new List<string>();
        foreach (var v in model.Volumes) Visit(v);

        void Visit(VolfileVolume v)
        {
            if (state.GetValueOrDefault(v.Name) == 2) return;
            state[v.Name] = 1;
            path.Add(v.Name);
            foreach (var s in v.Subvolumes)
            {
                int st = state.GetValueOrDefault(s);
                if (st == 1)
                {
                    var cycle = path.Skip(path.IndexOf(s)).Append(s);
                    throw new VolfileException(model.File, v.SubvolumesLine, v.Name, $"subvolumes form a cycle: {string.Join(" -> ", cycle)}");
                }
                if (st == 0) Visit(model.Find(s)!);
            }
            path.RemoveAt(path.Count - 1);
            state[v.Name] = 2;
        }
    }

    private static void CheckTopAndUse(VolfileModel model)
    {
        var top = model.Top;
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in model.Volumes)
            foreach (var s in v.Subvolumes)
            {
                if (s == top.Name)
                    throw new VolfileException(model.File, v.SubvolumesLine, v.Name,
                        $"names '{s}' as a subvolume, but '{s}' is the last volume in the file and so the top of the graph (the top must come last)");
                used.Add(s);
            }
        foreach (var v in model.Volumes)
            if (v != top && !used.Contains(v.Name))
                throw new VolfileException(model.File, v.Line, v.Name,
                    $"is not used by any other volume (only the last volume, '{top.Name}', the top of the graph, may be unused)");
    }
}
