using System.Buffers;
using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// Builds a frame body in a growable pooled buffer. A bulk payload (writev data, readv reply
/// data) is not copied here: <see cref="WriteBulk"/> records it so the transport appends it after
/// the body, straight from the caller's memory. Bulk is always the last field of a body.
/// Reused across calls; not thread-safe.
/// </summary>
public sealed class BodyWriter
{
    /// <summary>Buffers above this size go back to the pool on <see cref="Reset"/> rather than being kept.</summary>
    private const int KeepLimit = 64 << 10;
    private byte[] _buf;
    private int _len;

    public BodyWriter(int capacity = 512) { _buf = ArrayPool<byte>.Shared.Rent(capacity); }

    public int Length => _len;
    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _len);
    public ReadOnlyMemory<byte> Bulk { get; private set; }
    /// <summary>Body plus bulk: what the frame header's length counts.</summary>
    public int TotalLength => _len + Bulk.Length;

    public void Reset()
    {
        _len = 0;
        Bulk = default;
        if (_buf.Length > KeepLimit) { ArrayPool<byte>.Shared.Return(_buf); _buf = ArrayPool<byte>.Shared.Rent(512); }
    }

    private Span<byte> Take(int n)
    {
        if (Bulk.Length != 0) throw new InvalidOperationException("bulk must be the last field");
        if (_len + n > _buf.Length)
        {
            var nb = ArrayPool<byte>.Shared.Rent(Math.Max(_buf.Length * 2, _len + n));
            _buf.AsSpan(0, _len).CopyTo(nb);
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = nb;
        }
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    public void U8(byte v) => Take(1)[0] = v;
    public void Bool(bool v) => U8(v ? (byte)1 : (byte)0);
    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
    public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
    public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);
    public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
    public void Gfid(Gfid g) { var s = Take(16); BinaryPrimitives.WriteUInt64LittleEndian(s, g.Hi); BinaryPrimitives.WriteUInt64LittleEndian(s[8..], g.Lo); }
    public void Raw(ReadOnlySpan<byte> b) => b.CopyTo(Take(b.Length));
    /// <summary>16 bytes, as <see cref="System.Guid.TryWriteBytes(Span{byte})"/> lays them out (the handshake's identities too).</summary>
    public void Guid(Guid g) => g.TryWriteBytes(Take(16));
    public void Time(Timespec t) { I64(t.Sec); U32(t.Nsec); }

    /// <summary>u32 byte count then the bytes the string stands for (<see cref="NameBytes"/>: UTF-8, and each
    /// U+DC80..U+DCFF as the byte it escapes); null is written as count 0xFFFFFFFF.</summary>
    public void String(string? s)
    {
        if (s is null) { U32(uint.MaxValue); return; }
        int n = NameBytes.GetByteCount(s);
        U32((uint)n);
        NameBytes.GetBytes(s, Take(n));
    }

    /// <summary>u32 byte count then the bytes, copied into the body.</summary>
    public void Bytes(ReadOnlySpan<byte> b) { U32((uint)b.Length); Raw(b); }

    /// <summary>u32 byte count; the bytes themselves follow the body (see <see cref="Bulk"/>).</summary>
    public void WriteBulk(ReadOnlyMemory<byte> data) { U32((uint)data.Length); Bulk = data; }
}
