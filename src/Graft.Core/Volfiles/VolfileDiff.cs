namespace Graft.Core;

/// <summary>What applying a new volfile to a running graph takes.</summary>
public enum VolfileChangeKind
{
    /// <summary>Same volumes, types, edges and option values: nothing to do.</summary>
    Identical,
    /// <summary>Only options changed, and every one is changeable at run time: reconfigure in place.</summary>
    Reconfigure,
    /// <summary>Anything else: build a new graph and switch to it.</summary>
    NewGraph,
}

/// <summary>One option whose effective value changes (null: not given and no default).</summary>
public sealed record VolfileOptionChange(string Volume, string Option, string? OldValue, string? NewValue)
{
    public override string ToString() => $"{Volume}.{Option}: {OldValue ?? "(unset)"} -> {NewValue ?? "(unset)"}";
}

/// <summary>
/// The result of comparing two volfiles (or a live graph and a volfile): whether the change can be
/// applied in place, and why not when it cannot. Options are compared by their effective value
/// (parsed, defaults filled in, aliases resolved), so "1MB" and "1048576" are the same.
/// </summary>
public sealed class VolfileDiff
{
    private VolfileDiff(VolfileChangeKind kind, string reason, IReadOnlyList<VolfileOptionChange> changes,
                        IReadOnlyDictionary<string, OptionValues>? newOptions)
    {
        Kind = kind;
        Reason = reason;
        Changes = changes;
        NewOptions = newOptions ?? new Dictionary<string, OptionValues>();
    }

    public VolfileChangeKind Kind { get; }
    /// <summary>One line a log or an operator can act on: what changed, or why a new graph is needed.</summary>
    public string Reason { get; }
    /// <summary>The option changes (for <see cref="VolfileChangeKind.Reconfigure"/>).</summary>
    public IReadOnlyList<VolfileOptionChange> Changes { get; }
    /// <summary>For each volume with changed options, its complete new option values.</summary>
    internal IReadOnlyDictionary<string, OptionValues> NewOptions { get; }

    public override string ToString() => $"{Kind}: {Reason}";

    internal static VolfileDiff NewGraph(string reason) => new(VolfileChangeKind.NewGraph, reason, [], null);

    /// <summary>Compares two volfiles. Both are validated (throws <see cref="VolfileException"/>).</summary>
    public static VolfileDiff Compare(VolfileModel oldModel, VolfileModel newModel, XlatorRegistry registry)
    {
        oldModel.Validate(registry);
        return Compare(Nodes(oldModel, registry), newModel, registry);
    }

    /// <summary>Compares a live graph with a new volfile (validated; throws <see cref="VolfileException"/>).</summary>
    public static VolfileDiff Compare(Graph graph, VolfileModel newModel, XlatorRegistry registry)
        => Compare(Nodes(graph), newModel, registry);

    private sealed record Node(string Name, string Type, IReadOnlyList<string> Children, OptionValues Options);

    private static List<Node> Nodes(VolfileModel model, XlatorRegistry registry) =>
        model.Volumes.Select(v =>
        {
            var spec = VolfileValidator.SpecFor(model, v, registry);
            return new Node(v.Name, spec.Type, v.Subvolumes, VolfileValidator.OptionsFor(model, v, spec));
        }).ToList();

    private static List<Node> Nodes(Graph graph) =>
        graph.Translators.Select(t => new Node(t.Name, t.Type, t.Children.Select(c => c.Name).ToList(), t.Options)).ToList();

    private static VolfileDiff Compare(List<Node> oldNodes, VolfileModel newModel, XlatorRegistry registry)
    {
        newModel.Validate(registry);
        var newNodes = Nodes(newModel, registry);
        var oldByName = oldNodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var newNames = newNodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);

        foreach (var n in newNodes)
            if (!oldByName.ContainsKey(n.Name)) return NewGraph($"volume '{n.Name}' was added");
        foreach (var o in oldNodes)
            if (!newNames.Contains(o.Name)) return NewGraph($"volume '{o.Name}' was removed");

        var changes = new List<VolfileOptionChange>();
        var newOptions = new Dictionary<string, OptionValues>(StringComparer.Ordinal);
        foreach (var n in newNodes)
        {
            var o = oldByName[n.Name];
            if (o.Type != n.Type) return NewGraph($"volume '{n.Name}' changed type ({o.Type} -> {n.Type})");
            if (!o.Children.SequenceEqual(n.Children, StringComparer.Ordinal))
                return NewGraph($"subvolumes of '{n.Name}' changed ({Join(o.Children)} -> {Join(n.Children)})");
            bool changed = false;
            foreach (var spec in n.Options.Specs)
            {
                var before = o.Options.ValueOrNull(spec.Name);
                var after = n.Options.ValueOrNull(spec.Name);
                if (Equals(before, after)) continue;
                if (!spec.Runtime) return NewGraph($"option '{spec.Name}' of '{n.Name}' cannot change at run time");
                changes.Add(new VolfileOptionChange(n.Name, spec.Name, Show(spec, before), Show(spec, after)));
                changed = true;
            }
            if (changed) newOptions[n.Name] = n.Options;
        }
        if (changes.Count == 0) return new VolfileDiff(VolfileChangeKind.Identical, "no change", [], null);
        return new VolfileDiff(VolfileChangeKind.Reconfigure,
            $"{changes.Count} option{(changes.Count == 1 ? "" : "s")} changed: {string.Join("; ", changes)}", changes, newOptions);
    }

    private static string Join(IReadOnlyList<string> names) => names.Count == 0 ? "none" : string.Join(' ', names);

    // Values in the units the option is written in, so a change reads "4MB -> 8MB".
    private static string? Show(OptionSpec spec, object? v) => v switch
    {
        null => null,
        bool b => b ? "on" : "off",
        long n when spec.Kind == OptionKind.Size => OptionSpec.FormatSize(n),
        long n when spec.Kind == OptionKind.Time => n % 1000 == 0 ? $"{n / 1000}s" : $"{n}ms",
        long n when spec.Kind == OptionKind.Percent => $"{n}%",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString(),
    };
}
