using Graft.Xlators.Cluster.Distribute;

namespace Graft.Xlators.Tests.Distribute;

/// <summary>A layout splits the 32-bit hash space into one range per member; a half-written one is never taken as whole.</summary>
public class LayoutSplitsTheHashSpace
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void A_fresh_layout_covers_every_hash_once_in_nearly_equal_ranges(int n)
    {
        var entries = Layout.Fresh(n, Enumerable.Range(0, n).ToArray(), 1, settled: true);
        var layout = new Layout([.. entries.Select(e => (LayoutEntry?)e)]);
        Assert.True(layout.Complete);
        Assert.True(layout.Settled);
        var widths = entries.Select(e => e.Range.Width).ToArray();
        Assert.Equal(1UL << 32, widths.Aggregate(0UL, (a, b) => a + b));
        Assert.True(widths.Max() - widths.Min() <= (ulong)n);
        Assert.Equal(0, layout.Search(0));
        Assert.Equal(n - 1, layout.Search(uint.MaxValue));
    }

    [Fact]
    public void Members_only_get_ranges_and_the_rest_none()
    {
        var entries = Layout.Fresh(4, [1, 3], 5, settled: false);
        Assert.True(entries[0].Range.IsNone && entries[2].Range.IsNone);
        var layout = new Layout([.. entries.Select(e => (LayoutEntry?)e)]);
        Assert.True(layout.Complete);
        Assert.False(layout.Settled);
        Assert.Equal(5u, layout.Epoch);
        Assert.All(new uint[] { 0, 1u << 31, uint.MaxValue }, h => Assert.Contains(layout.Search(h), new[] { 1, 3 }));
    }

    [Fact]
    public void Holes_overlaps_mixed_epochs_and_unreadable_copies_are_not_whole()
    {
        var e = Layout.Fresh(2, [0, 1], 1, settled: true);
        Assert.False(new Layout([e[0], null]).Complete);                                       // hole
        Assert.False(new Layout([e[0], e[0]]).Complete);                                       // overlap
        Assert.False(new Layout([e[0], e[1] with { Epoch = 2 }]).Complete);                   // two writes mixed
        Assert.False(new Layout([e[0], e[1]], [false, true]).Complete);                        // a copy not read
        Assert.False(new Layout([e[0], e[1] with { Settled = false }]).Settled);
        Assert.True(new Layout([null, null]).IsEmpty);
    }

    [Fact]
    public void An_entry_round_trips_through_its_xattr_bytes_and_foreign_bytes_are_refused()
    {
        var e = new LayoutEntry(new HashRange(0x10, 0x7fffffff), 42, true);
        var b = e.ToBytes();
        Assert.Equal(LayoutEntry.Size, b.Length);
        Assert.Equal("00000001" + "00000001" + "00000010" + "7FFFFFFF" + "00000001" + "0000002A", Convert.ToHexString(b));
        Assert.True(LayoutEntry.TryParse(b, out var back));
        Assert.Equal(e, back);
        b[7] = 9; // another hash function
        Assert.False(LayoutEntry.TryParse(b, out _));
        Assert.False(LayoutEntry.TryParse(new byte[12], out _));
    }
}
