using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Benchmarks;

/// <summary>
/// 4 KiB readv/writev on an open fd at the top of a graph: storage/posix alone (0 layers) and under
/// three debug/passthrough layers. The allocation column shows that pass-through layers add none.
/// </summary>
[MemoryDiagnoser]
public class PosixIoBenchmarks
{
    private BenchGraph _g = null!;
    private Fd _fd = null!;
    private readonly FopContext _ctx = FopContext.Root();
    private readonly byte[] _buf = new byte[4096];

    [Params(0, 3)]
    public int PassthroughLayers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _g = BenchGraph.Start(PassthroughLayers);
        var graph = _g.Graph;
        var gfid = Gfid.NewGfid();
        var inode = graph.Inodes.Link(default, null, new Iatt { Gfid = gfid, Mode = Graft.Core.PosixMode.S_IFREG | 0x1A4 });
        _fd = new Fd(inode, OpenFlags.O_RDWR);
        graph.Inodes.Unref(inode);
        Sync.Get(graph.Top.CreateAsync(_ctx, Loc.Child(graph.Inodes.Root, "bench"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, gfid, _fd));
        new Random(1).NextBytes(_buf);
        for (long off = 0; off < 1 << 20; off += _buf.Length) Sync.Get(graph.Top.WritevAsync(_ctx, _fd, _buf, off));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_fd.Unref()) _g.Graph.Top.ReleaseAsync(_fd).AsTask().GetAwaiter().GetResult();
        _g.Destroy();
    }

    [Benchmark(Description = "readv 4 KiB")]
    public int Readv4K() => Sync.Get(_g.Graph.Top.ReadvAsync(_ctx, _fd, _buf, 4096));

    [Benchmark(Description = "writev 4 KiB")]
    public int Writev4K() => Sync.Get(_g.Graph.Top.WritevAsync(_ctx, _fd, _buf, 8192));

    [Benchmark(Description = "fstat")]
    public long Fstat() => Sync.Get(_g.Graph.Top.FstatAsync(_ctx, _fd)).Size;
}
