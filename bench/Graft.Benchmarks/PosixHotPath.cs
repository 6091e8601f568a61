using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Benchmarks;

/// <summary>
/// storage/posix on an open fd: readv, writev and fstat are one syscall each and must allocate
/// nothing (MemoryDiagnoser shows "-" in the Allocated column). Needs root (trusted xattrs).
/// </summary>
[MemoryDiagnoser]
public class PosixHotPath
{
    private string _temp = "";
    private Graph _graph = null!;
    private Translator _xl = null!;
    private Fd _fd = null!;
    private readonly FopContext _ctx = FopContext.Root();
    private readonly FopContext _user = FopContext.ForCaller(4242, 4242);
    private readonly byte[] _buf = new byte[4096];

    [GlobalSetup]
    public void Setup()
    {
        _temp = Path.Combine(Path.GetTempPath(), "graft-posix-bench", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(_temp);
        _graph = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = _temp }));
        _graph.InitAsync(CancellationToken.None).GetAwaiter().GetResult(); // setup only, outside the measured path
        var g = Gfid.NewGfid();
        var inode = _graph.Inodes.Link(Gfid.Zero, null, new Iatt { Gfid = g, Mode = Graft.Core.PosixMode.S_IFREG });
        _fd = new Fd(inode, OpenFlags.O_RDWR);
        _xl = _graph.Top;
        var c = _xl.CreateAsync(_ctx, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, g, _fd);
        if (!c.IsCompletedSuccessfully || !c.Result.Ok) throw new InvalidOperationException("create failed");
    }

    // storage/posix completes every fop synchronously (PosixHotPathTests asserts it): .Result never blocks here.
    [Benchmark]
    public int Writev() => _xl.WritevAsync(_ctx, _fd, _buf, 0).Result.Value;

    /// <summary>A non-root caller's write costs one fstat more (does the file carry a set-id bit the kernel must
    /// clear as the caller?); still one credential-free pwrite when it does not.</summary>
    [Benchmark]
    public int WritevByAnotherUser() => _xl.WritevAsync(_user, _fd, _buf, 0).Result.Value;

    [Benchmark]
    public int Readv() => _xl.ReadvAsync(_ctx, _fd, _buf, 0).Result.Value;

    [Benchmark]
    public long Fstat() => _xl.FstatAsync(_ctx, _fd).Result.Value.Size;

    [GlobalCleanup]
    public void Cleanup()
    {
        _xl.ReleaseAsync(_fd).AsTask().GetAwaiter().GetResult();
        _graph.DestroyAsync().GetAwaiter().GetResult();
        Directory.Delete(_temp, recursive: true);
    }
}
