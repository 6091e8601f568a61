using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace Graft.Core;

/// <summary>
/// 128-bit identity of a file or directory, the same on every brick and in every graph.
/// The root directory is always <see cref="Root"/> (…0001), as in GlusterFS.
/// </summary>
public readonly struct Gfid : IEquatable<Gfid>, IComparable<Gfid>
{
    public readonly ulong Hi;
    public readonly ulong Lo;

    public Gfid(ulong hi, ulong lo) { Hi = hi; Lo = lo; }

    public static readonly Gfid Zero = default;
    public static readonly Gfid Root = new(0, 1);

    public bool IsZero => Hi == 0 && Lo == 0;
    public bool IsRoot => Hi == 0 && Lo == 1;

    /// <summary>A fresh random (version-4 style) GFID.</summary>
    public static Gfid NewGfid()
    {
        Span<byte> b = stackalloc byte[16];
        RandomNumberGenerator.Fill(b);
        return Version4(b);
    }

    /// <summary>A fresh random GFID whose first two bytes are <paramref name="prefix"/> (<see cref="GfidRuns"/>).</summary>
    public static Gfid NewGfid(ushort prefix)
    {
        Span<byte> b = stackalloc byte[16];
        RandomNumberGenerator.Fill(b);
        BinaryPrimitives.WriteUInt16BigEndian(b, prefix);
        return Version4(b);
    }

    /// <summary>Random bytes made a version-4 (random) UUID's: its version and variant bits set.</summary>
    private static Gfid Version4(Span<byte> b)
    {
        b[6] = (byte)((b[6] & 0x0F) | 0x40);
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        return FromBytes(b);
    }

    public static Gfid FromBytes(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b[8..]));

    public void WriteBytes(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], Lo);
    }

    public byte[] ToBytes() { var b = new byte[16]; WriteBytes(b); return b; }

    /// <summary>Canonical text: 8-4-4-4-12 lowercase hex, like a UUID.</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[16];
        WriteBytes(b);
        var hex = Convert.ToHexStringLower(b);
        return string.Create(36, hex, static (s, h) =>
        {
            h.AsSpan(0, 8).CopyTo(s); s[8] = '-';
            h.AsSpan(8, 4).CopyTo(s[9..]); s[13] = '-';
            h.AsSpan(12, 4).CopyTo(s[14..]); s[18] = '-';
            h.AsSpan(16, 4).CopyTo(s[19..]); s[23] = '-';
            h.AsSpan(20, 12).CopyTo(s[24..]);
        });
    }

    public static bool TryParse(ReadOnlySpan<char> s, out Gfid gfid)
    {
        gfid = default;
        Span<char> hex = stackalloc char[32];
        int n = 0;
        foreach (var c in s)
        {
            if (c == '-') continue;
            if (n == 32 || !char.IsAsciiHexDigit(c)) return false;
            hex[n++] = c;
        }
        if (n != 32) return false;
        gfid = new Gfid(ulong.Parse(hex[..16], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                        ulong.Parse(hex[16..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        return true;
    }

    public static Gfid Parse(string s) => TryParse(s, out var g) ? g : throw new FormatException($"not a GFID: '{s}'");

    public bool Equals(Gfid other) => Hi == other.Hi && Lo == other.Lo;
    public override bool Equals(object? obj) => obj is Gfid g && Equals(g);
    public override int GetHashCode() => HashCode.Combine(Hi, Lo);
    public int CompareTo(Gfid other) => Hi != other.Hi ? Hi.CompareTo(other.Hi) : Lo.CompareTo(other.Lo);
    public static bool operator ==(Gfid a, Gfid b) => a.Equals(b);
    public static bool operator !=(Gfid a, Gfid b) => !a.Equals(b);
}
