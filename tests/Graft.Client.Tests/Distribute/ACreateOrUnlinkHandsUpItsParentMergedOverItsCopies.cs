namespace Graft.Client.Tests.Distribute;

/// <summary>
/// A create or unlink through distribute hands up its directory's attributes merged over the directory's copies
/// (FopContext.PostParent) — what a stat of the directory through distribute answers right after, though the fop
/// changed one copy only — so performance/md-cache above answers that stat itself, and answers it right.
/// </summary>
public class ACreateOrUnlinkHandsUpItsParentMergedOverItsCopies
{
    [Fact]
    public async Task Md_cache_answers_the_next_stat_of_the_directory_as_distribute_would()
    {
        // A bound out of reach of a loaded machine: what is checked is the attributes, not the time.
        await using var v = await DistributedVolume.CreateAsync(3, "postparent-max-age 60s");
        await MdCacheOnTop.SwitchAsync(v.Volume, v.Volfile(3, "postparent-max-age 60s"), "dht");
        var d = await v.Volume.MkdirAsync("/d");
        // Each copy of d gets an atime of its own (a create or unlink leaves atime alone): the merge takes the
        // latest, copy 2's, so the attributes of only the copy a fop changed cannot pass for the merged ones.
        for (int i = 0; i < 3; i++) Directory.SetLastAccessTimeUtc(v.On(i, "/d"), new DateTime(2001 + i, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        await v.Volume.StatAsync("/d"); // distribute sees every copy

        var changed = new HashSet<int>();
        for (int i = 0; i < 12; i++)
        {
            await v.Volume.WriteAllBytesAsync($"/d/f{i}", "x"u8.ToArray());
            changed.UnionWith(v.DataBricks($"/d/f{i}"));
            var a = await MdCacheOnTop.AnswersAsBelowAsync(v.Volume, "/d", d.Gfid, "dht");
            Assert.Equal(2003, DateTimeOffset.FromUnixTimeSeconds(a.Atime.Sec).Year);
        }
        Assert.Equal(3, changed.Count); // every copy was the changed one at least once, not only the first
        for (int i = 0; i < 12; i++)
        {
            await v.Volume.DeleteFileAsync($"/d/f{i}");
            await MdCacheOnTop.AnswersAsBelowAsync(v.Volume, "/d", d.Gfid, "dht");
        }
    }
}
