using Graft.Core;
using Graft.Mount;
using Graft.Xlators.Performance.MdCache;

namespace Graft.Client.Tests;

/// <summary>performance/md-cache put on top of a library volume's graph, and whether it answers a directory's stat as the translator below it would.</summary>
internal static class MdCacheOnTop
{
    /// <summary>Switches <paramref name="volume"/> to <paramref name="volfile"/> with md-cache (timeout 60 s, out of reach of a loaded machine) over its top volume <paramref name="top"/>.</summary>
    public static async Task SwitchAsync(Volume volume, string volfile, string top)
    {
        var r = await volume.ApplyVolfileAsync(volfile + $"volume mdc\n    type performance/md-cache\n    option timeout 60\n    subvolumes {top}\nend-volume\n", "mdc.vol");
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        Assert.IsType<MdCacheTranslator>(volume.Session.ActiveGraph.Top);
    }

    /// <summary>
    /// Stats the directory <paramref name="path"/> (GFID <paramref name="dir"/>) through the volume: md-cache answers
    /// (its hits grow by one), with exactly what the translator <paramref name="below"/> answers for it when asked itself.
    /// </summary>
    public static async Task<Iatt> AnswersAsBelowAsync(Volume volume, string path, Gfid dir, string below)
    {
        var g = volume.Session.ActiveGraph;
        var mdc = (MdCacheTranslator)g.Top;
        long hits = mdc.Hits;
        var cached = await volume.StatAsync(path);
        Assert.Equal(hits + 1, mdc.Hits);
        var ctx = FopContext.Root();
        ctx.Graph = g;
        var asked = await g.Find(below)!.StatAsync(ctx, Loc.Of(g.Inodes.Find(dir)!));
        Assert.True(asked.Ok, $"stat through {below}: {asked.Error}");
        Assert.Equal(asked.Value, cached);
        return cached;
    }
}
