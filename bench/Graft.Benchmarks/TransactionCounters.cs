using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Features.Index;
using Graft.Xlators.Storage.Posix;

namespace Graft.Benchmarks;

/// <summary>
/// A replica transaction's two adds on one brick (the pre-op, +1 on the copy's own counter, which records the file in
/// the heal index; the post-op, −1, which forgets it after looking at the file's other counters), over
/// features/index and storage/posix as in a brick graph: by loc (xattrop: posix opens the file again by its GFID
/// handle, and reads and writes the xattr through /proc/self/fd) against through the open fd (fxattrop, session 13).
/// Needs root (trusted xattrs).
/// </summary>
[MemoryDiagnoser]
public class TransactionCounters
{
    private static readonly byte[] Up = Delta(1), Down = Delta(-1);
    private const string Counter = PosixTranslator.PendingXattrPrefix + "b0";
    private string _temp = "";
    private Graph _graph = null!;
    private Translator _xl = null!;
    private Fd _fd = null!;
    private Loc _loc;
    private readonly FopContext _ctx = FopContext.Root();

    private static byte[] Delta(long d)
    {
        var b = new byte[24];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(b, d);
        return b;
    }

    [GlobalSetup]
    public void Setup()
    {
        _temp = Path.Combine(Path.GetTempPath(), "graft-counters-bench", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(Path.Combine(_temp, "brick"));
        _graph = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = Path.Combine(_temp, "brick") }),
                                 (IndexTranslator.Spec, "index", new Dictionary<string, string> { ["index-directory"] = Path.Combine(_temp, "brick", ".graft", "indices") }));
        _graph.InitAsync(CancellationToken.None).GetAwaiter().GetResult(); // setup only, outside the measured path
        var g = Gfid.NewGfid();
        var inode = _graph.Inodes.Link(Gfid.Zero, null, new Iatt { Gfid = g, Mode = Graft.Core.PosixMode.S_IFREG });
        _fd = new Fd(inode, OpenFlags.O_RDWR);
        _xl = _graph.Top;
        var c = _xl.CreateAsync(_ctx, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, g, _fd).AsTask().GetAwaiter().GetResult();
        if (!c.Ok) throw new InvalidOperationException("create failed");
        _loc = Loc.Of(inode);
    }

    /// <summary>Pre-op and post-op by loc, as bricks made them before session 13.</summary>
    [Benchmark(Baseline = true)]
    public int ByLoc()
    {
        var a = _xl.XattropAsync(_ctx, _loc, Counter, Up).AsTask().GetAwaiter().GetResult();
        var b = _xl.XattropAsync(_ctx, _loc, Counter, Down).AsTask().GetAwaiter().GetResult();
        return a.Value.Length + b.Value.Length;
    }

    /// <summary>Pre-op and post-op through the open fd (fxattrop).</summary>
    [Benchmark]
    public int ByFd()
    {
        var a = _xl.FxattropAsync(_ctx, _fd, Counter, Up).AsTask().GetAwaiter().GetResult();
        var b = _xl.FxattropAsync(_ctx, _fd, Counter, Down).AsTask().GetAwaiter().GetResult();
        return a.Value.Length + b.Value.Length;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _xl.ReleaseAsync(_fd).AsTask().GetAwaiter().GetResult();
        _graph.DestroyAsync().GetAwaiter().GetResult();
        Directory.Delete(_temp, recursive: true);
    }
}
