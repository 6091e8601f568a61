using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Server;
using Graft.Xlators.Storage.Posix;

namespace Graft.Benchmarks;

/// <summary>
/// One fop over a real loopback connection: protocol/client → protocol/server → storage/posix, both
/// ends in this process. The Allocated column counts the client's and the brick's allocations
/// together: the data path (writev, readv, fstat on an open fd) allocates nothing per call.
/// </summary>
[MemoryDiagnoser]
public class ProtocolRoundTripBenchmarks
{
    private string _temp = "";
    private Graph _brick = null!, _client = null!;
    private Translator _top = null!;
    private Fd _fd = null!;
    private readonly FopContext _ctx = FopContext.Root();
    private readonly byte[] _buf = new byte[4096];

    [GlobalSetup]
    public void Setup()
    {
        _temp = Path.Combine(Path.GetTempPath(), "graft-rt-bench", Guid.NewGuid().ToString("n"));
        var dir = Path.Combine(_temp, "brick");
        Directory.CreateDirectory(dir);
        var secret = Path.Combine(_temp, "secret");
        File.WriteAllText(secret, "bench secret " + Guid.NewGuid().ToString("n") + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _brick = Graph.Linear(1, (PosixTranslator.Spec, "brick", new Dictionary<string, string> { ["directory"] = dir }),
                                 (ProtocolServer.Spec, "server", new Dictionary<string, string> { ["secret-file"] = secret }));
        // Benchmark setup runs outside any async context; waiting here is bounded and happens once.
        if (!_brick.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult())
            throw new InvalidOperationException("brick did not come up");
        var port = ((ProtocolServer)_brick.Top).LocalEndPoint!.Port;
        _client = Graph.Linear(1, (ProtocolClient.Spec, "client", new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1", ["remote-port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["remote-subvolume"] = "brick", ["secret-file"] = secret, ["ping-timeout"] = "0",
        }));
        if (!_client.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult())
            throw new InvalidOperationException("client did not come up");
        _top = _client.Top;
        var g = Gfid.NewGfid();
        var inode = _client.Inodes.Link(Gfid.Zero, null, new Iatt { Gfid = g, Mode = PosixMode.S_IFREG });
        _fd = new Fd(inode, OpenFlags.O_RDWR);
        var r = _top.CreateAsync(_ctx, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, g, _fd).AsTask().GetAwaiter().GetResult();
        if (!r.Ok) throw new InvalidOperationException($"create failed: {r.Error}");
        if (!_top.WritevAsync(_ctx, _fd, _buf, 0).AsTask().GetAwaiter().GetResult().Ok) throw new InvalidOperationException("writev failed");
    }

    // Each invocation makes Batch calls in a row, so the one Task of the benchmark method itself
    // (BenchmarkDotNet awaits it) is spread over them: what is left in Allocated is per fop.
    private const int Batch = 64;

    [Benchmark(Description = "writev 4 KiB", OperationsPerInvoke = Batch)]
    public async Task Writev() { for (int i = 0; i < Batch; i++) Check((await _top.WritevAsync(_ctx, _fd, _buf, 0)).Ok); }

    [Benchmark(Description = "readv 4 KiB", OperationsPerInvoke = Batch)]
    public async Task Readv() { for (int i = 0; i < Batch; i++) Check((await _top.ReadvAsync(_ctx, _fd, _buf, 0)).Ok); }

    [Benchmark(Description = "fstat", OperationsPerInvoke = Batch)]
    public async Task Fstat() { for (int i = 0; i < Batch; i++) Check((await _top.FstatAsync(_ctx, _fd)).Ok); }

    [Benchmark(Description = "stat by GFID", OperationsPerInvoke = Batch)]
    public async Task Stat() { for (int i = 0; i < Batch; i++) Check((await _top.StatAsync(_ctx, Loc.Nameless(Gfid.Root))).Ok); }

    private static void Check(bool ok)
    {
        if (!ok) throw new InvalidOperationException("fop failed");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_fd.Unref()) _top.ReleaseAsync(_fd).AsTask().GetAwaiter().GetResult();
        _client.DestroyAsync().GetAwaiter().GetResult();
        _brick.DestroyAsync().GetAwaiter().GetResult();
        Directory.Delete(_temp, recursive: true);
    }
}
