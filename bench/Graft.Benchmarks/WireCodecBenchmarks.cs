using BenchmarkDotNet.Attributes;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Benchmarks;

/// <summary>
/// The wire codec on the data path: encoding and decoding the requests and replies of writev, readv,
/// fstat and lookup. Encoding into a reused body writer and decoding a writev or fstat must allocate
/// nothing ("-" in the Allocated column); a lookup's name is a string, so decoding one allocates it.
/// </summary>
[MemoryDiagnoser]
public class WireCodecBenchmarks
{
    private readonly BodyWriter _w = new();
    private readonly byte[] _data = new byte[4096];
    private readonly uint[] _groups = [4, 24];
    private FopRequest _writev, _readv, _fstat, _lookup;
    private byte[] _writevBody = [], _fstatBody = [], _lookupBody = [], _iattReply = [];
    private readonly FopReply _iatt = new() { Iatt = new Iatt { Gfid = Gfid.NewGfid(), Ino = 7, Mode = 0x81a4, Nlink = 1, Size = 4096 } };

    [GlobalSetup]
    public void Setup()
    {
        var caller = new WireCaller { Uid = 1000, Gid = 1000, Groups = _groups, Pid = 42, LockOwner = 7, MountId = Guid.NewGuid() };
        _writev = new FopRequest(FopOp.Writev) { Caller = caller, Fd = 12345, Offset = 1 << 20, Data = _data };
        _readv = new FopRequest(FopOp.Readv) { Caller = caller, Fd = 12345, Offset = 1 << 20, Size = 4096 };
        _fstat = new FopRequest(FopOp.Fstat) { Caller = caller, Fd = 12345 };
        _lookup = new FopRequest(FopOp.Lookup) { Caller = caller, Loc = new WireLoc(default, Gfid.Root, "report-2026-11.txt") };
        _writevBody = Encode(_writev);
        _fstatBody = Encode(_fstat);
        _lookupBody = Encode(_lookup);
        _w.Reset();
        FopCodec.WriteReply(_w, FopOp.Fstat, _iatt);
        _iattReply = _w.Written.ToArray();
    }

    private byte[] Encode(in FopRequest q)
    {
        _w.Reset();
        FopCodec.WriteRequest(_w, q);
        return [.. _w.Written, .. _w.Bulk.Span];
    }

    [Benchmark(Description = "encode writev request (4 KiB bulk)")]
    public int EncodeWritev() { _w.Reset(); FopCodec.WriteRequest(_w, _writev); return _w.TotalLength; }

    [Benchmark(Description = "encode readv request")]
    public int EncodeReadv() { _w.Reset(); FopCodec.WriteRequest(_w, _readv); return _w.TotalLength; }

    [Benchmark(Description = "encode lookup request")]
    public int EncodeLookup() { _w.Reset(); FopCodec.WriteRequest(_w, _lookup); return _w.TotalLength; }

    [Benchmark(Description = "decode writev request")]
    public long DecodeWritev() => FopCodec.TryReadRequest(FopOp.Writev, FrameFlags.None, _writevBody, out var q, _groups) ? q.Offset : -1;

    [Benchmark(Description = "decode fstat request")]
    public ulong DecodeFstat() => FopCodec.TryReadRequest(FopOp.Fstat, FrameFlags.None, _fstatBody, out var q, _groups) ? q.Fd : 0;

    [Benchmark(Description = "decode lookup request (allocates the name)")]
    public int DecodeLookup() => FopCodec.TryReadRequest(FopOp.Lookup, FrameFlags.None, _lookupBody, out var q, _groups) ? q.Loc.Name!.Length : -1;

    [Benchmark(Description = "encode fstat reply")]
    public int EncodeIattReply() { _w.Reset(); FopCodec.WriteReply(_w, FopOp.Fstat, _iatt); return _w.Length; }

    [Benchmark(Description = "decode fstat reply")]
    public long DecodeIattReply() => FopCodec.TryReadReply(FopOp.Fstat, FrameFlags.None, _iattReply, out var p) ? p.Iatt.Size : -1;
}
