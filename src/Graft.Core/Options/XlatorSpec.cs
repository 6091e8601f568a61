namespace Graft.Core;

/// <summary>
/// What a translator type declares: its volfile type name ("storage/posix"), how to make one,
/// its options and its shape (how many children it takes).
/// </summary>
public sealed record XlatorSpec(string Type, Func<Translator> Factory, IReadOnlyList<OptionSpec> Options, string Description)
{
    public int MinChildren { get; init; } = 1;
    public int MaxChildren { get; init; } = 1;

    public OptionSpec? FindOption(string name)
    {
        foreach (var o in Options)
            if (o.Name == name || Array.IndexOf(o.Aliases, name) >= 0) return o;
        return null;
    }
}

/// <summary>Translator types by volfile type name.</summary>
public sealed class XlatorRegistry
{
    private readonly Dictionary<string, XlatorSpec> _specs = new(StringComparer.Ordinal);

    public XlatorRegistry Register(XlatorSpec spec)
    {
        _specs[spec.Type] = spec;
        return this;
    }

    public XlatorSpec? Find(string type) => _specs.TryGetValue(type, out var s) ? s : null;
    public IEnumerable<XlatorSpec> All => _specs.Values.OrderBy(s => s.Type, StringComparer.Ordinal);
}
