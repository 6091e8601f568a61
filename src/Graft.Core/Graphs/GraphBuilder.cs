using Microsoft.Extensions.Logging;

namespace Graft.Core;

/// <summary>Turns a volfile into a <see cref="Graph"/> of new translators.</summary>
public static class GraphBuilder
{
    /// <summary>
    /// Validates <paramref name="model"/> against <paramref name="registry"/> (throwing
    /// <see cref="VolfileException"/>) and creates its translators, wired as the volfile says and
    /// ordered bottom-up: every translator comes after all of its children and the top is last.
    /// The translators are not initialised; call <see cref="Graph.InitAsync"/> or
    /// <see cref="Graph.StartAndWaitAsync"/>.
    /// </summary>
    public static Graph Build(VolfileModel model, XlatorRegistry registry, long generation,
                              int inodeLruLimit = 16384, ILoggerFactory? loggers = null)
    {
        model.Validate(registry);
        var byName = new Dictionary<string, Translator>(StringComparer.Ordinal);
        foreach (var v in model.Volumes)
        {
            var spec = VolfileValidator.SpecFor(model, v, registry);
            var xl = spec.Factory();
            xl.Name = v.Name;
            xl.Type = spec.Type;
            xl.Options = VolfileValidator.OptionsFor(model, v, spec);
            byName[v.Name] = xl;
        }
        foreach (var v in model.Volumes)
            foreach (var s in v.Subvolumes) byName[v.Name].AddChild(byName[s]);

        var order = BottomUp(model).Select(v => byName[v.Name]).ToList();
        return new Graph(generation, order, model.Text ?? VolfileWriter.Write(model), inodeLruLimit, loggers);
    }

    /// <summary>Parses, validates and builds in one step.</summary>
    public static Graph Build(string volfileText, string file, XlatorRegistry registry, long generation,
                              int inodeLruLimit = 16384, ILoggerFactory? loggers = null)
        => Build(VolfileModel.Parse(volfileText, file), registry, generation, inodeLruLimit, loggers);

    /// <summary>
    /// The volumes with children before parents, keeping file order wherever it already allows
    /// (a GlusterFS-style file, children first, comes out unchanged). The model is acyclic and
    /// its top, the only root, is last in the file, so it is also last here.
    /// </summary>
    internal static List<VolfileVolume> BottomUp(VolfileModel model)
    {
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var left = model.Volumes.ToList();
        var order = new List<VolfileVolume>(left.Count);
        while (left.Count > 0)
        {
            int i = left.FindIndex(v => v.Subvolumes.All(placed.Contains));
            if (i < 0) throw new InvalidOperationException("volfile has a cycle (validation should have caught it)");
            placed.Add(left[i].Name);
            order.Add(left[i]);
            left.RemoveAt(i);
        }
        return order;
    }
}
