using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Mount;

namespace Graft.Benchmarks;

/// <summary>
/// The mount session's hit path (a resolved handle on the active graph) over storage/posix under
/// three debug/passthrough layers: what the session adds to a 4 KiB read or write, and that it
/// allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class SessionBenchmarks
{
    private BenchGraph _g = null!;
    private MountSession _session = null!;
    private MountFile _file = null!;
    private MountNode _node = null!;
    private readonly FopContext _ctx = FopContext.Root();
    private readonly byte[] _buf = new byte[4096];

    [GlobalSetup]
    public void Setup()
    {
        _g = BenchGraph.Start(3);
        _session = new MountSession(_g.Graph);
        var c = Sync.Get(_session.CreateAsync(_ctx, _session.Root, "bench", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        _file = c.File;
        _node = c.Node;
        new Random(1).NextBytes(_buf);
        for (long off = 0; off < 1 << 20; off += _buf.Length) Sync.Get(_session.WriteAsync(_ctx, _file, _buf, off));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // DisposeAsync releases the file, drains and destroys the graph.
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try { Directory.Delete(_g.Dir, recursive: true); } catch (IOException) { }
    }

    [Benchmark(Description = "session read 4 KiB")]
    public int Read4K() => Sync.Get(_session.ReadAsync(_ctx, _file, _buf, 4096));

    [Benchmark(Description = "session write 4 KiB")]
    public int Write4K() => Sync.Get(_session.WriteAsync(_ctx, _file, _buf, 8192));

    [Benchmark(Description = "session getattr (fd)")]
    public long GetattrFile() => Sync.Get(_session.GetattrAsync(_ctx, _file)).Size;

    [Benchmark(Description = "session getattr (node)")]
    public long GetattrNode() => Sync.Get(_session.GetattrAsync(_ctx, _node)).Size;
}
