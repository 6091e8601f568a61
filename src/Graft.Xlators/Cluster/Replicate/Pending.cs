using System.Buffers.Binary;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>
/// The pending counters: every copy of an object keeps, for every child j of the replica set, an
/// xattr <c>trusted.graft.pending.&lt;name of j&gt;</c> of three signed 64-bit big-endian counters
/// (data, metadata, entry): how many changes of that kind this copy knows were started on j and not
/// known to have landed there. A transaction adds 1 on every copy for every child before the change
/// (pre-op) and takes 1 off for each child where it succeeded afterwards (post-op), so a copy that
/// missed a change stays blamed by the copies that saw it. The bricks' heal index keys on this prefix.
/// </summary>
public static class Pending
{
    public const string Prefix = Storage.Posix.PosixTranslator.PendingXattrPrefix;
    public const int Data = 0, Metadata = 1, Entry = 2, Kinds = 3;
    /// <summary>Bytes of one pending xattr's value (and of an xattrop's deltas).</summary>
    public const int Width = Kinds * 8;

    public static string NameFor(string child) => Prefix + child;

    public static bool IsPending(string xattr) => xattr.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>Deltas adding <paramref name="n"/> to counter <paramref name="kind"/>.</summary>
    public static byte[] Delta(int kind, long n)
    {
        var b = new byte[Width];
        BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(kind * 8), n);
        return b;
    }

    /// <summary>Counter <paramref name="kind"/> of an xattr value; 0 for a value of another shape (absent, or not ours).</summary>
    public static long Read(ReadOnlySpan<byte> value, int kind) =>
        value.Length == Width ? BinaryPrimitives.ReadInt64BigEndian(value[(kind * 8)..]) : 0;
}

/// <summary>
/// What the copies' counters of one kind say about an object: <see cref="Sources"/> (copies no
/// other copy blames: read from them, heal from them), <see cref="Sinks"/> (copies that need
/// heal), or a split brain (every copy blamed by another).
/// </summary>
/// <param name="Answered">copies whose counters were read.</param>
public readonly record struct Verdict(uint Answered, uint Sources, uint Sinks, bool SplitBrain, bool AllSuspect)
{
    public bool Clean => Sinks == 0 && !SplitBrain && !AllSuspect;

    /// <summary>
    /// Judges matrix <paramref name="m"/> (m[i][j]: copy i's counter for child j). A copy that
    /// blames itself (m[i][i] &gt; 0) was in the middle of a change when it was last written (the
    /// client died between pre-op and post-op, or its window is still open): it is *dirty*, and may
    /// or may not hold that change. Its blame of another copy still counts: the pre-op writes it for
    /// the copies left out of the change (down, not locked), so a copy that was down while the others
    /// took acknowledged writes is a sink even though its own counters are clean. The sources are the
    /// copies no other copy blames, the clean ones among them first; when every such copy is dirty,
    /// <see cref="AllSuspect"/> is set and the caller picks among <see cref="Sources"/> (the biggest,
    /// as a write that landed anywhere made it at least that big). When every copy is blamed by
    /// another, it is a split brain.
    /// </summary>
    public static Verdict Judge(long[][] m, uint answered)
    {
        int n = m.Length;
        uint dirty = 0, accused = 0;
        for (int i = 0; i < n; i++)
        {
            if ((answered & (1u << i)) == 0) continue;
            for (int j = 0; j < n; j++)
                if (m[i][j] > 0)
                {
                    if (i == j) dirty |= 1u << i;
                    else accused |= 1u << j;
                }
        }
        uint candidates = answered & ~accused;
        if (candidates == 0) return answered == 0 ? new(0, 0, 0, false, false) : new(answered, 0, answered, true, false);
        uint sources = candidates & ~dirty;
        if (sources != 0) return new(answered, sources, answered & ~sources, false, false);
        return new(answered, candidates, answered & ~candidates, false, true);
    }
}
