using Graft.Core;
using Graft.Xlators.Debug;

namespace Graft.Mount.Tests;

/// <summary>A mount session on a started graph: an in-memory brick under <paramref name="layers"/> pass-through translators.</summary>
internal sealed class TestSession : IAsyncDisposable
{
    public readonly Graph Graph;
    public readonly MountSession Session;
    public readonly MemoryBrick Brick;
    public readonly FopContext Ctx = FopContext.Root();

    private TestSession(Graph graph, MountOptions? options)
    {
        Graph = graph;
        Brick = (MemoryBrick)graph.Translators[0];
        Session = new MountSession(graph, options);
    }

    public static async Task<TestSession> StartAsync(int layers = 1, MountOptions? options = null)
    {
        var specs = new List<(XlatorSpec, string, IReadOnlyDictionary<string, string>?)> { (MemoryBrick.Spec, "mem", null) };
        for (int i = 1; i <= layers; i++) specs.Add((Passthrough.Spec, "p" + i, null));
        var graph = Graph.Linear(1, [.. specs]);
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None), "graph did not come up");
        return new TestSession(graph, options);
    }

    public async Task<NodeEntry> CreateFileAsync(string name, byte[]? data = null)
    {
        var c = Ok(await Session.CreateAsync(Ctx, Session.Root, name, OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        if (data is not null) Ok(await Session.WriteAsync(Ctx, c.File, data, 0));
        await Session.ReleaseAsync(c.File);
        return new NodeEntry(c.Node, c.Attr);
    }

    public static T Ok<T>(Result<T> r)
    {
        Assert.True(r.Ok, $"expected success, got {r.Error}");
        return r.Value;
    }

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}
