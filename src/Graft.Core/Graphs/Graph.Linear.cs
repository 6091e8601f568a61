namespace Graft.Core;

public sealed partial class Graph
{
    /// <summary>
    /// Builds a chain graph without a volfile (tests, benchmarks, embedded use): the first layer is
    /// the bottom, the last is the top. Options are validated as a volfile's would be.
    /// </summary>
    public static Graph Linear(long generation, params (XlatorSpec Spec, string Name, IReadOnlyDictionary<string, string>? Options)[] bottomToTop)
    {
        var list = new List<Translator>();
        Translator? below = null;
        foreach (var (spec, name, options) in bottomToTop)
        {
            var xl = spec.Factory();
            xl.Name = name;
            xl.Type = spec.Type;
            xl.Options = new OptionValues(spec.Options, options ?? new Dictionary<string, string>());
            if (below is not null) xl.AddChild(below);
            list.Add(xl);
            below = xl;
        }
        return new Graph(generation, list);
    }
}
