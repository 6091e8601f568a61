using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Graft.Fuse.Raw;

/// <summary>
/// Packs READDIR (fuse_dirent) or READDIRPLUS (fuse_direntplus) records into a reply buffer: each record
/// padded with zeros to 8 bytes, never a partial record. <c>nextOffset</c> is the cookie of the entry
/// that follows this one; the kernel passes it back as the offset of a later READDIR, so it must stay
/// valid across calls.
/// </summary>
public ref struct DirentWriter
{
    readonly Span<byte> _buffer;
    readonly bool _plus;
    int _length;

    public DirentWriter(Span<byte> buffer, bool plus)
    {
        _buffer = buffer;
        _plus = plus;
        _length = 0;
    }

    /// <summary>Bytes written so far (a multiple of 8).</summary>
    public readonly int Length => _length;
    public readonly bool IsPlus => _plus;

    public static int RecordSize(int nameLength, bool plus) =>
        Align8((plus ? Unsafe.SizeOf<FuseEntryOut>() : 0) + Unsafe.SizeOf<FuseDirent>() + nameLength);

    static int Align8(int n) => (n + 7) & ~7;

    /// <summary>Adds a READDIR record. False (and nothing written) when it does not fit: reply what you have.</summary>
    public bool TryAdd(scoped ReadOnlySpan<byte> name, ulong ino, uint direntType, ulong nextOffset)
    {
        if (_plus) throw new InvalidOperationException("READDIRPLUS records need an entry: use TryAddPlus");
        return Write(name, ino, direntType, nextOffset, default, false);
    }

    /// <summary>Adds a READDIRPLUS record. Every entry but "." and ".." with a non-zero NodeId counts as a
    /// LOOKUP for the kernel (it will FORGET it); an entry with NodeId 0 is listed but not looked up.</summary>
    public bool TryAddPlus(scoped ReadOnlySpan<byte> name, in FuseEntryOut entry, ulong nextOffset)
    {
        if (!_plus) throw new InvalidOperationException("READDIR records carry no entry: use TryAdd");
        return Write(name, entry.Attr.Ino, DirentType(entry.Attr.Mode), nextOffset, entry, true);
    }

    bool Write(scoped ReadOnlySpan<byte> name, ulong ino, uint type, ulong nextOffset, in FuseEntryOut entry, bool plus)
    {
        int size = RecordSize(name.Length, plus);
        if (size > _buffer.Length - _length) return false;
        var rec = _buffer.Slice(_length, size);
        int at = 0;
        if (plus)
        {
            MemoryMarshal.Write(rec, in entry);
            at = Unsafe.SizeOf<FuseEntryOut>();
        }
        var d = new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)name.Length, Type = type };
        MemoryMarshal.Write(rec[at..], in d);
        at += Unsafe.SizeOf<FuseDirent>();
        name.CopyTo(rec[at..]);
        rec[(at + name.Length)..].Clear();
        _length += size;
        return true;
    }

    /// <summary>The DT_* type of a mode (S_IFMT bits shifted down).</summary>
    public static uint DirentType(uint mode) => (mode & 0xF000) >> 12;
}
