namespace Graft.Core;

public sealed partial class Graph
{
    private string? _backendSignature;

    /// <summary>
    /// What the graph's leaves reach: each leaf's type and options, sorted. Two graphs with the
    /// same signature reach the same brick directories, so a position one of them got from a
    /// brick (a readdir cookie) means the same in the other.
    /// </summary>
    public string BackendSignature => _backendSignature ??= string.Join("\n",
        Translators.Where(t => t.Children.Count == 0)
                   .Select(t => t.Type + "{" + string.Join(";", t.Options.Raw.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                                                                       .Select(kv => kv.Key + "=" + kv.Value)) + "}")
                   .OrderBy(s => s, StringComparer.Ordinal));
}
