using Graft.Core;

namespace Graft.Core.Tests;

/// <summary>
/// GFIDs a client makes come in runs of <see cref="GfidRuns.RunLength"/> that share their first two bytes (the brick's
/// handle directory .graft/handles/xx/yy), each still unique and version-4 shaped; a new run takes a new prefix.
/// </summary>
public sealed class NewObjectsShareAHandleDirectoryInRuns
{
    private static ushort Prefix(Gfid g) => (ushort)(g.Hi >> 48);

    [Fact]
    public void Consecutive_gfids_share_a_prefix_for_a_run_and_stay_unique()
    {
        var runs = new GfidRuns();
        var all = Enumerable.Range(0, 3 * GfidRuns.RunLength).Select(_ => runs.Next()).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        for (int r = 0; r < 3; r++)
        {
            var run = all.Skip(r * GfidRuns.RunLength).Take(GfidRuns.RunLength).ToList();
            Assert.Single(run.Select(Prefix).Distinct());
        }
        Assert.True(all.Select(Prefix).Distinct().Count() >= 2, "a new run takes a new random prefix (three equal in a row: 1 in 2^32)");
        Assert.All(all, g =>
        {
            Assert.Equal(4UL, (g.Hi >> 12) & 0xF);   // version nibble
            Assert.Equal(2UL, g.Lo >> 62);           // variant bits
            Assert.False(g.IsZero || g.IsRoot);
        });
    }

    [Fact]
    public async Task Racing_callers_each_get_their_own_gfid()
    {
        var runs = new GfidRuns();
        var bags = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            Enumerable.Range(0, 1000).Select(_ => runs.Next()).ToList())));
        var all = bags.SelectMany(b => b).ToList();
        Assert.Equal(4000, all.Distinct().Count());
        // 4,000 GFIDs in runs of 256: 16 prefixes (fewer only if two runs drew the same one).
        Assert.InRange(all.Select(Prefix).Distinct().Count(), 1, 4000 / GfidRuns.RunLength + 1);
    }
}
