using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Features.Index;
using Graft.Xlators.Storage.Posix;
using Graft.Xlators.Tests.Posix;

namespace Graft.Xlators.Tests.Features.Index;

/// <summary>features/index over storage/posix on a private directory, as in the standard brick graph, and the calls replicate makes on it.</summary>
internal sealed class IndexBrick : IAsyncDisposable
{
    public static readonly FopContext Root = FopContext.Root();
    public const string PendingA = PosixTranslator.PendingXattrPrefix + "brick-a", PendingB = PosixTranslator.PendingXattrPrefix + "brick-b";

    private readonly string _temp;
    private readonly Dictionary<string, string> _options;

    private IndexBrick(string temp, Dictionary<string, string> options, Graph graph) { _temp = temp; _options = options; Graph = graph; }

    public Graph Graph { get; private set; }
    public IndexTranslator Index => (IndexTranslator)Graph.Top;
    public string Dir => Path.Combine(_temp, "brick");
    public string PendingDir => Path.Combine(Dir, ".graft", "indices", "pending");

    public static async Task<IndexBrick> StartAsync(Dictionary<string, string>? options = null)
    {
        var temp = PosixBrick.NewTempDir();
        Directory.CreateDirectory(Path.Combine(temp, "brick"));
        var o = new Dictionary<string, string> { ["index-directory"] = Path.Combine(temp, "brick", ".graft", "indices") };
        foreach (var (k, v) in options ?? []) o[k] = v;
        return new IndexBrick(temp, o, await NewGraphAsync(temp, o));
    }

    private static async Task<Graph> NewGraphAsync(string temp, Dictionary<string, string> o)
    {
        var g = Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", new Dictionary<string, string> { ["directory"] = Path.Combine(temp, "brick") }),
                                (IndexTranslator.Spec, "brick-index", o));
        await g.InitAsync(CancellationToken.None);
        return g;
    }

    /// <summary>Stops the graph and starts a new one on the same directories, as a brick restart does.</summary>
    public async Task RestartAsync()
    {
        await Graph.DestroyAsync();
        Graph = await NewGraphAsync(_temp, _options);
    }

    public async Task<Gfid> CreateAsync(string name)
    {
        var g = Gfid.NewGfid();
        var r = await Index.MknodAsync(Root, Loc.Child(Gfid.Root, name), PosixMode.S_IFREG | 0x1A4, 0, 0, g);
        Assert.True(r.Ok, $"mknod {name}: {r.Error}");
        return g;
    }

    public static byte[] Counters(params long[] values)
    {
        var b = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(i * 8), values[i]);
        return b;
    }

    public async Task XattropOk(Gfid g, string name, params long[] deltas)
    {
        var r = await Index.XattropAsync(Root, Loc.Nameless(g), name, Counters(deltas));
        Assert.True(r.Ok, $"xattrop {name}: {r.Error}");
    }

    /// <summary>One page of the index as a trusted client reads it.</summary>
    public async Task<List<Gfid>> PageAsync(Gfid? after = null, FopContext? ctx = null)
    {
        var key = after is { } a ? IndexTranslator.ListKey + "." + a : IndexTranslator.ListKey;
        var r = await Index.GetxattrAsync(ctx ?? Root, Loc.Nameless(Gfid.Root), key);
        Assert.True(r.Ok, $"getxattr {key}: {r.Error}");
        Assert.Equal(0, r.Value.Length % 16);
        return Enumerable.Range(0, r.Value.Length / 16).Select(i => Gfid.FromBytes(r.Value.AsSpan(i * 16, 16))).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await Graph.DestroyAsync();
        try { Directory.Delete(_temp, recursive: true); } catch (IOException) { }
    }
}
