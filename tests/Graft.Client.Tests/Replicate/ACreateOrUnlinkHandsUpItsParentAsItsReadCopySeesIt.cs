using Graft.Core;
using Graft.Mount;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Performance.MdCache;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// A create or unlink through replicate hands up its directory's attributes as the copy a stat of the directory
/// reads from reported them (FopContext.PostParent) — what that stat answers right after, though every copy
/// answered the fop at once, each with its own directory — so performance/md-cache above answers that stat itself,
/// and answers it right.
/// </summary>
public class ACreateOrUnlinkHandsUpItsParentAsItsReadCopySeesIt
{
    [Theory]
    [InlineData("gfid-hash")]
    [InlineData("first-up")]
    public async Task Md_cache_answers_the_next_stat_of_the_directory_as_replicate_would(string policy)
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, $"read-policy {policy}");
        var r = await v.Volume.ApplyVolfileAsync(v.Volfile() +
            "volume mdc\n    type performance/md-cache\n    option timeout 60\n    subvolumes afr\nend-volume\n", "afr.vol");
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        var g = v.Volume.Session.ActiveGraph;
        var mdc = (MdCacheTranslator)g.Top;
        var afr = (ReplicateTranslator)g.Find("afr")!;
        var d = await v.Volume.MkdirAsync("/d");
        // Each copy of d gets an atime of its own (a create or unlink leaves atime alone), so another copy's
        // report cannot pass for the read copy's.
        for (int i = 0; i < 3; i++) Directory.SetLastAccessTimeUtc(v.On(i, "/d"), new DateTime(2001 + i, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        for (int i = 0; i < 4; i++)
        {
            await v.Volume.WriteAllBytesAsync($"/d/f{i}", "x"u8.ToArray());
            await AnsweredAsReplicateWouldAsync(v, g, mdc, afr, d.Gfid);
        }
        for (int i = 0; i < 4; i++)
        {
            await v.Volume.DeleteFileAsync($"/d/f{i}");
            await AnsweredAsReplicateWouldAsync(v, g, mdc, afr, d.Gfid);
        }
    }

    private static async Task AnsweredAsReplicateWouldAsync(ReplicatedVolume v, Graph g, MdCacheTranslator mdc, ReplicateTranslator afr, Gfid dir)
    {
        long hits = mdc.Hits;
        var cached = await v.Volume.StatAsync("/d");
        Assert.Equal(hits + 1, mdc.Hits); // md-cache answered it
        var ctx = FopContext.Root();
        ctx.Graph = g;
        var below = await afr.StatAsync(ctx, Loc.Of(g.Inodes.Find(dir)!));
        Assert.True(below.Ok, $"stat through replicate: {below.Error}");
        Assert.Equal(below.Value, cached);
    }
}
