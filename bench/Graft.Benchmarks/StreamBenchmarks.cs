using BenchmarkDotNet.Attributes;
using Graft.Client;

namespace Graft.Benchmarks;

/// <summary>
/// The library front end: 4 KiB positioned reads and writes on a <see cref="GraftFileStream"/>
/// over storage/posix under three pass-throughs (the session hit path plus the stream's own work).
/// </summary>
[MemoryDiagnoser]
public class StreamBenchmarks
{
    private BenchGraph _g = null!;
    private Volume _volume = null!;
    private GraftFileStream _stream = null!;
    private readonly byte[] _buf = new byte[4096];

    [GlobalSetup]
    public void Setup()
    {
        _g = BenchGraph.Start(3);
        _volume = Volume.FromGraph(_g.Graph);
        _stream = _volume.OpenAsync("/bench", FileMode.Create, FileAccess.ReadWrite).GetAwaiter().GetResult();
        new Random(1).NextBytes(_buf);
        for (int i = 0; i < 256; i++) _stream.Write(_buf);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stream.Dispose();
        _volume.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try { Directory.Delete(_g.Dir, recursive: true); } catch (IOException) { }
    }

    [Benchmark(Description = "stream ReadAsync 4 KiB")]
    public int Read4K()
    {
        _stream.Position = 4096;
        var vt = _stream.ReadAsync(_buf.AsMemory());
        return vt.IsCompletedSuccessfully ? vt.Result : throw new InvalidOperationException("not synchronous");
    }

    [Benchmark(Description = "stream WriteAsync 4 KiB")]
    public void Write4K()
    {
        _stream.Position = 8192;
        var vt = _stream.WriteAsync(_buf.AsMemory());
        if (!vt.IsCompletedSuccessfully) throw new InvalidOperationException("not synchronous");
    }
}
