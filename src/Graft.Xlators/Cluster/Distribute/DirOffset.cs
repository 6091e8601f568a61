using System.Numerics;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>
/// A distributed directory offset: (subvolume index, that subvolume's own offset) in one 64-bit
/// value, so a listing can resume anywhere from the value alone (on this graph, or on a new graph
/// that reaches the same backends, where the mount session reuses backend offsets).
/// </summary>
/// <remarks>
/// With k = the bits needed for the subvolume count (0 for one subvolume), bit 63 is 0 and bits
/// 62..63-k hold the index, the low 63-k bits the subvolume's offset — exact for any offset below
/// 2^(63-k) (tmpfs, xfs, btrfs and non-hashed ext4 directories). ext4's hashed directories use
/// 63-bit offsets that do not fit: those are stored with bit 63 set and the offset's low k bits
/// dropped. Resuming from such a value reads from the start of its 2^k bucket and skips the
/// entries whose own next-offset lies in that bucket or before it — exactly the ones already
/// returned, unless two entries of one directory fall in the same bucket: for ext4's hash offsets
/// (positions in a 63-bit hash order) that takes two names whose hashes agree in all but k bits,
/// which ext4 itself already treats as a collision at k = 0.
/// </remarks>
public static class DirOffset
{
    /// <summary>Bits the index of one of <paramref name="subvolumes"/> subvolumes takes.</summary>
    public static int IndexBits(int subvolumes) => subvolumes <= 1 ? 0 : 32 - BitOperations.LeadingZeroCount((uint)(subvolumes - 1));

    public static long Encode(int subvolume, long offset, int subvolumes)
    {
        int k = IndexBits(subvolumes), payload = 63 - k;
        long index = (long)subvolume << payload;
        if (offset >= 0 && (offset >> payload) == 0) return index | offset;
        return long.MinValue | index | (long)(((ulong)offset >> k) & ((1UL << payload) - 1));
    }

    /// <summary>
    /// Splits <paramref name="cookie"/>: the subvolume, the offset to resume it from, and for an
    /// inexact value the largest next-offset an entry already returned can have (null when exact).
    /// </summary>
    public static (int Subvolume, long Offset, ulong? SkipThrough) Decode(long cookie, int subvolumes)
    {
        int k = IndexBits(subvolumes), payload = 63 - k;
        var bits = (ulong)cookie & ~(1UL << 63);
        int index = (int)(bits >> payload);
        ulong rest = bits & ((1UL << payload) - 1);
        if (cookie >= 0) return (index, (long)rest, null);
        ulong floor = rest << k;
        return (index, (long)floor, floor + ((1UL << k) - 1));
    }
}
