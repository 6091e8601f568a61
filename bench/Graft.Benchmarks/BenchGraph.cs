using Graft.Core;
using Graft.Xlators.Debug;
using Graft.Xlators.Storage.Posix;

namespace Graft.Benchmarks;

/// <summary>A started graph: storage/posix on a private temp directory under N debug/passthrough layers.</summary>
internal sealed class BenchGraph
{
    public readonly string Dir;
    public readonly Graph Graph;

    private BenchGraph(string dir, Graph graph) { Dir = dir; Graph = graph; }

    public static BenchGraph Start(int passthroughLayers)
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var specs = new List<(XlatorSpec, string, IReadOnlyDictionary<string, string>?)>
        {
            (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = dir }),
        };
        for (int i = 1; i <= passthroughLayers; i++) specs.Add((Passthrough.Spec, "p" + i, null));
        var graph = Graph.Linear(1, [.. specs]);
        // Benchmark setup runs outside any async context; waiting here is bounded and happens once.
        if (!graph.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult())
            throw new InvalidOperationException("graph did not come up");
        return new BenchGraph(dir, graph);
    }

    public void Destroy()
    {
        Graph.DestroyAsync().GetAwaiter().GetResult();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

internal static class Sync
{
    /// <summary>The value of a fop that must have completed synchronously (storage/posix always does).</summary>
    public static T Get<T>(ValueTask<Result<T>> vt)
    {
        if (!vt.IsCompletedSuccessfully) throw new InvalidOperationException("fop did not complete synchronously");
        var r = vt.Result;
        if (!r.Ok) throw new InvalidOperationException($"fop failed: {r.Error}");
        return r.Value;
    }
}
