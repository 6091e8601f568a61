using System.Buffers.Binary;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>One subvolume's share of a directory's hash space: [Start, End], inclusive; or none.</summary>
public readonly record struct HashRange(uint Start, uint End)
{
    /// <summary>No range: the subvolume holds the directory but takes no new names.</summary>
    public static readonly HashRange None = new(1, 0);

    public bool IsNone => End < Start;
    public bool Contains(uint hash) => !IsNone && hash >= Start && hash <= End;
    public ulong Width => IsNone ? 0 : (ulong)End - Start + 1;
    public override string ToString() => IsNone ? "none" : $"{Start:x8}-{End:x8}";
}

/// <summary>
/// What one subvolume's copy of a directory says about the layout: its own range, the layout
/// epoch it belongs to, and whether the directory was settled under it. Stored in the xattr
/// <see cref="Layout.Xattr"/> (24 bytes, big-endian): u32 format (1) · u32 hash (<see cref="DhtHash.Id"/>)
/// · u32 start · u32 end (end &lt; start: no range) · u32 flags (bit 0: settled) · u32 epoch.
/// </summary>
public readonly record struct LayoutEntry(HashRange Range, uint Epoch, bool Settled)
{
    public const int Size = 24;
    private const uint Format = 1, SettledFlag = 1;

    public byte[] ToBytes()
    {
        var b = new byte[Size];
        BinaryPrimitives.WriteUInt32BigEndian(b, Format);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), DhtHash.Id);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), Range.Start);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), Range.End);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), Settled ? SettledFlag : 0);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), Epoch);
        return b;
    }

    /// <summary>Parses an xattr value; false for anything not written by this format (treated as no layout).</summary>
    public static bool TryParse(ReadOnlySpan<byte> b, out LayoutEntry e)
    {
        e = default;
        if (b.Length != Size || BinaryPrimitives.ReadUInt32BigEndian(b) != Format || BinaryPrimitives.ReadUInt32BigEndian(b[4..]) != DhtHash.Id)
            return false;
        e = new LayoutEntry(new HashRange(BinaryPrimitives.ReadUInt32BigEndian(b[8..]), BinaryPrimitives.ReadUInt32BigEndian(b[12..])),
                            BinaryPrimitives.ReadUInt32BigEndian(b[20..]), (BinaryPrimitives.ReadUInt32BigEndian(b[16..]) & SettledFlag) != 0);
        return true;
    }
}

/// <summary>
/// A directory's layout as one client assembled it from every subvolume's copy: a range (or none,
/// or unknown) per subvolume, by subvolume index. Immutable; a new read makes a new one.
/// </summary>
public sealed class Layout
{
    /// <summary>The xattr holding each copy's <see cref="LayoutEntry"/>.</summary>
    public const string Xattr = "trusted.graft.dht.layout";

    private readonly LayoutEntry?[] _entries;
    private readonly bool[] _unknown;

    /// <param name="entries">Each copy's entry (null: that copy has no layout xattr, or no copy).</param>
    /// <param name="unknown">Copies that could not be read (a subvolume down); null: none.</param>
    public Layout(LayoutEntry?[] entries, bool[]? unknown = null)
    {
        _entries = entries;
        _unknown = unknown ?? new bool[entries.Length];
        HasUnknown = _unknown.Any(u => u);
        Complete = !HasUnknown && CheckComplete(entries);
        Settled = Complete && entries.All(e => e is null || e.Value.Settled);
    }

    /// <summary>Some copy could not be read: its range is not known, so the layout cannot be judged (nor healed).</summary>
    public bool HasUnknown { get; }

    /// <summary>No copy has a layout at all (a directory made before the volume was distributed).</summary>
    public bool IsEmpty => !HasUnknown && _entries.All(e => e is null);

    public bool IsUnknown(int i) => _unknown[i];

    /// <summary>The subvolumes' entries (null: that copy has no layout, is missing, or could not be read).</summary>
    public IReadOnlyList<LayoutEntry?> Entries => _entries;

    /// <summary>
    /// The ranges cover the whole hash space exactly once and every entry has the same epoch: no
    /// half-written layout. Only then is a name's hashed subvolume well defined.
    /// </summary>
    public bool Complete { get; }

    /// <summary>
    /// Complete, and every copy says the directory was settled under it: every name of the
    /// directory is on, or has a link pointer on, its hashed subvolume. Then a miss on the hashed
    /// subvolume is a true ENOENT (lookup-unhashed auto).
    /// </summary>
    public bool Settled { get; }

    public uint Epoch => _entries.FirstOrDefault(e => e is not null)?.Epoch ?? 0;

    /// <summary>The subvolume whose range holds <paramref name="hash"/>, or -1 (a hole, or no layout).</summary>
    public int Search(uint hash)
    {
        for (int i = 0; i < _entries.Length; i++)
            if (_entries[i] is { } e && e.Range.Contains(hash)) return i;
        return -1;
    }

    /// <summary>Whether subvolume <paramref name="i"/> has a range.</summary>
    public bool HasRange(int i) => i < _entries.Length && _entries[i] is { } e && !e.Range.IsNone;

    private static bool CheckComplete(LayoutEntry?[] entries)
    {
        var ranges = new List<HashRange>();
        uint? epoch = null;
        foreach (var e in entries)
        {
            if (e is not { } x) continue;
            if (epoch is { } ep && ep != x.Epoch) return false;
            epoch = x.Epoch;
            if (!x.Range.IsNone) ranges.Add(x.Range);
        }
        if (ranges.Count == 0) return false;
        ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
        ulong next = 0;
        foreach (var r in ranges)
        {
            if (r.Start != next) return false;
            next = (ulong)r.End + 1;
        }
        return next == 1UL << 32;
    }

    /// <summary>
    /// A fresh layout: the hash space split into equal, contiguous ranges over the subvolumes
    /// <paramref name="members"/> names (in index order); the others get no range.
    /// </summary>
    public static LayoutEntry[] Fresh(int subvolumes, IReadOnlyList<int> members, uint epoch, bool settled)
    {
        if (members.Count == 0) throw new ArgumentException("a layout needs at least one member", nameof(members));
        var result = new LayoutEntry[subvolumes];
        for (int i = 0; i < subvolumes; i++) result[i] = new LayoutEntry(HashRange.None, epoch, settled);
        ulong space = 1UL << 32, start = 0;
        for (int k = 0; k < members.Count; k++)
        {
            ulong end = k == members.Count - 1 ? space - 1 : start + space / (ulong)members.Count - 1;
            result[members[k]] = new LayoutEntry(new HashRange((uint)start, (uint)end), epoch, settled);
            start = end + 1;
        }
        return result;
    }

    public override string ToString() =>
        $"epoch {Epoch}{(Complete ? "" : " incomplete")}{(Settled ? " settled" : "")}: "
        + string.Join(", ", _entries.Select((e, i) => $"{i}={(e is { } x ? x.Range.ToString() : "?")}"));
}
