using System.Buffers.Binary;
using System.Numerics;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>
/// The name hash that decides where a file lives: XXH32 (xxHash, 32-bit variant, seed 0) of the
/// name's bytes. It is part of the on-disk format — every layout written says it uses hash 1,
/// this function — so it must never change: a change would make every lookup miss on the
/// subvolume it expects. <c>DhtHashTests</c> pins it with fixed vectors. XXH32 was chosen for its
/// published specification (so other tools can compute it), its even spread over short names
/// that differ only in a counter (file-0001, file-0002, ...), and its speed; it is written here
/// rather than taken from a package because it is one small pure function that we own forever.
/// </summary>
public static class DhtHash
{
    /// <summary>The id of this hash in a layout xattr.</summary>
    public const uint Id = 1;

    private const uint P1 = 0x9E3779B1, P2 = 0x85EBCA77, P3 = 0xC2B2AE3D, P4 = 0x27D4EB2F, P5 = 0x165667B1;

    /// <summary>
    /// The hash of a name: of the bytes it stands for on disk (<see cref="Core.NameBytes"/>: UTF-8, and a
    /// name that is not valid UTF-8 hashes its own raw bytes, PEP 383), so two clients agree on every name
    /// Linux allows and a name's place does not depend on how a front end spells it.
    /// </summary>
    public static uint OfName(string name)
    {
        int n = Core.NameBytes.GetByteCount(name);
        if (n <= 512)
        {
            Span<byte> buf = stackalloc byte[512];
            return Xxh32(buf[..Core.NameBytes.GetBytes(name, buf)]);
        }
        return Xxh32(Core.NameBytes.GetBytes(name));
    }

    /// <summary>XXH32 with seed 0, as specified at github.com/Cyan4973/xxHash (doc/xxhash_spec.md).</summary>
    public static uint Xxh32(ReadOnlySpan<byte> data)
    {
        int i = 0;
        uint h;
        if (data.Length >= 16)
        {
            uint v1 = unchecked(P1 + P2), v2 = P2, v3 = 0, v4 = unchecked(0 - P1);
            for (; i + 16 <= data.Length; i += 16)
            {
                v1 = Round(v1, BinaryPrimitives.ReadUInt32LittleEndian(data[i..]));
                v2 = Round(v2, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]));
                v3 = Round(v3, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 8)..]));
                v4 = Round(v4, BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 12)..]));
            }
            h = BitOperations.RotateLeft(v1, 1) + BitOperations.RotateLeft(v2, 7) + BitOperations.RotateLeft(v3, 12) + BitOperations.RotateLeft(v4, 18);
        }
        else h = P5;
        h += (uint)data.Length;
        for (; i + 4 <= data.Length; i += 4)
            h = BitOperations.RotateLeft(h + BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) * P3, 17) * P4;
        for (; i < data.Length; i++)
            h = BitOperations.RotateLeft(h + data[i] * P5, 11) * P1;
        h ^= h >> 15;
        h *= P2;
        h ^= h >> 13;
        h *= P3;
        h ^= h >> 16;
        return h;
    }

    private static uint Round(uint acc, uint input) => BitOperations.RotateLeft(acc + input * P2, 13) * P1;
}
