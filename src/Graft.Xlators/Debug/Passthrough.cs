using Graft.Core;

namespace Graft.Xlators.Debug;

/// <summary>
/// debug/passthrough: overrides nothing, so every fop and event goes to its child unchanged.
/// Useful to measure what one layer of the graph costs, and to change a graph's shape in tests.
/// </summary>
public sealed class Passthrough : Translator
{
    public static readonly XlatorSpec Spec = new("debug/passthrough", () => new Passthrough(), [],
        "passes every fop to its child unchanged");
}
