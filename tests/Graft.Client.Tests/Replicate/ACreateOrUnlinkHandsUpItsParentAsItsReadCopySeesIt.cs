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
        await MdCacheOnTop.SwitchAsync(v.Volume, v.Volfile(), "afr");
        var d = await v.Volume.MkdirAsync("/d");
        // Each copy of d gets an atime of its own (a create or unlink leaves atime alone), so another copy's
        // report cannot pass for the read copy's.
        for (int i = 0; i < 3; i++) Directory.SetLastAccessTimeUtc(v.On(i, "/d"), new DateTime(2001 + i, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        for (int i = 0; i < 4; i++)
        {
            await v.Volume.WriteAllBytesAsync($"/d/f{i}", "x"u8.ToArray());
            await MdCacheOnTop.AnswersAsBelowAsync(v.Volume, "/d", d.Gfid, "afr");
        }
        for (int i = 0; i < 4; i++)
        {
            await v.Volume.DeleteFileAsync($"/d/f{i}");
            await MdCacheOnTop.AnswersAsBelowAsync(v.Volume, "/d", d.Gfid, "afr");
        }
    }
}
