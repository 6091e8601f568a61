using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// Reads a frame body. Never throws on bad input: a read past the end or an invalid value sets
/// <see cref="Failed"/> and returns a default, and the caller checks <see cref="Ok"/> once at the
/// end (a malformed body closes the connection).
/// </summary>
public struct BodyReader
{
    /// <summary>Longest string accepted (a symlink target or an xattr name: PATH_MAX).</summary>
    public const int MaxString = 4096;
    private readonly ReadOnlyMemory<byte> _mem;
    private int _pos;

    public BodyReader(ReadOnlyMemory<byte> body) { _mem = body; _pos = 0; Failed = false; }

    public bool Failed { get; private set; }
    public readonly int Remaining => _mem.Length - _pos;
    /// <summary>True when nothing went wrong and the whole body was consumed.</summary>
    public readonly bool Ok => !Failed && _pos == _mem.Length;

    public void Fail() => Failed = true;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (Failed || n < 0 || n > Remaining) { Failed = true; return default; }
        var s = _mem.Span.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public byte U8() { var s = Take(1); return s.IsEmpty ? (byte)0 : s[0]; }
    public bool Bool()
    {
        var b = U8();
        if (b > 1) Failed = true;
        return b == 1;
    }
    public ushort U16() { var s = Take(2); return s.IsEmpty ? (ushort)0 : BinaryPrimitives.ReadUInt16LittleEndian(s); }
    public uint U32() { var s = Take(4); return s.IsEmpty ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(s); }
    public int I32() { var s = Take(4); return s.IsEmpty ? 0 : BinaryPrimitives.ReadInt32LittleEndian(s); }
    public ulong U64() { var s = Take(8); return s.IsEmpty ? 0 : BinaryPrimitives.ReadUInt64LittleEndian(s); }
    public long I64() { var s = Take(8); return s.IsEmpty ? 0 : BinaryPrimitives.ReadInt64LittleEndian(s); }
    public Gfid Gfid()
    {
        var s = Take(16);
        return s.IsEmpty ? default : new Gfid(BinaryPrimitives.ReadUInt64LittleEndian(s), BinaryPrimitives.ReadUInt64LittleEndian(s[8..]));
    }
    public Timespec Time()
    {
        long sec = I64(); uint nsec = U32();
        if (nsec >= 1_000_000_000) Failed = true;
        return new Timespec(sec, nsec);
    }

    public ReadOnlySpan<byte> Raw(int n) => Take(n);
    public Guid Guid() { var s = Take(16); return s.IsEmpty ? System.Guid.Empty : new Guid(s); }

    /// <summary>A string's bytes, mapped by <see cref="NameBytes"/>: names, symlink targets and xattr names are bytes
    /// on Linux, and any bytes decode (bytes that are not UTF-8 to U+DC80..U+DCFF), so nothing is lost or refused.</summary>
    public string? String()
    {
        uint n = U32();
        if (n == uint.MaxValue) return null;
        if (n > MaxString) { Failed = true; return null; }
        var s = Take((int)n);
        if (Failed) return null;
        return NameBytes.GetString(s);
    }

    /// <summary>A string that must be present.</summary>
    public string RequiredString()
    {
        var s = String();
        if (s is null) Failed = true;
        return s ?? "";
    }

    /// <summary>A length-prefixed byte run, as a slice of the body (no copy).</summary>
    public ReadOnlyMemory<byte> Bytes(int max = FrameHeader.MaxIo)
    {
        uint n = U32();
        if (n > (uint)max || n > (uint)Remaining) { Failed = true; return default; }
        var m = _mem.Slice(_pos, (int)n);
        _pos += (int)n;
        return m;
    }
}
