using System.Text;
using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Benchmarks;

/// <summary>
/// Names cross from bytes to strings on every lookup, create and readdir entry (FUSE bridge, wire codec,
/// storage/posix). NameBytes against the plain UTF-8 it replaced: for valid UTF-8 the same work plus one vector
/// scan, and the same allocation (the string itself); a name that is not UTF-8 takes the escaping path.
/// </summary>
[MemoryDiagnoser]
public class NameBenchmarks
{
    private readonly byte[] _ascii = "report-2026-11.txt"u8.ToArray();
    private readonly byte[] _latin1 = [(byte)'r', 0xE9, .. "sum"u8, 0xE9, .. ".txt"u8]; // "résumé.txt" in Latin-1
    private readonly byte[] _out = new byte[1024];
    private readonly BodyWriter _writer = new();
    private string _asciiName = "", _latin1Name = "";
    private byte[] _wireBody = [];

    [GlobalSetup]
    public void Setup()
    {
        _asciiName = NameBytes.GetString(_ascii);
        _latin1Name = NameBytes.GetString(_latin1);
        _writer.String(_asciiName);
        _wireBody = _writer.Written.ToArray();
    }

    [Benchmark(Baseline = true, Description = "UTF8.GetString (before)")]
    public string Utf8Decode() => Encoding.UTF8.GetString(_ascii);

    [Benchmark(Description = "NameBytes.GetString, UTF-8 name")]
    public string Decode() => NameBytes.GetString(_ascii);

    [Benchmark(Description = "NameBytes.GetString, Latin-1 name")]
    public string DecodeEscaped() => NameBytes.GetString(_latin1);

    [Benchmark(Description = "UTF8.GetBytes (before)")]
    public int Utf8Encode() => Encoding.UTF8.GetBytes(_asciiName, _out);

    [Benchmark(Description = "NameBytes.GetBytes, UTF-8 name")]
    public int Encode() => NameBytes.GetBytes(_asciiName, _out);

    [Benchmark(Description = "NameBytes.GetBytes, Latin-1 name")]
    public int EncodeEscaped() => NameBytes.GetBytes(_latin1Name, _out);

    [Benchmark(Description = "NameBytes.IsCanonical, UTF-8 name")]
    public bool Canonical() => NameBytes.IsCanonical(_asciiName);

    [Benchmark(Description = "wire: write a name")]
    public int WireWrite()
    {
        _writer.Reset();
        _writer.String(_asciiName);
        return _writer.Length;
    }

    [Benchmark(Description = "wire: read a name")]
    public string WireRead() => new BodyReader(_wireBody).String()!;
}
