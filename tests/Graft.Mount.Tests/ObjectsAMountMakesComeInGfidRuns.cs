using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>
/// The GFIDs a mount gives what it makes (files, directories) come in runs that share their first two bytes, so a
/// brick makes one handle directory per run, not one per object (GfidRuns; docs/storage-posix.md).
/// </summary>
public class ObjectsAMountMakesComeInGfidRuns
{
    [Fact]
    public async Task Files_and_directories_made_one_after_another_share_a_handle_directory()
    {
        await using var t = await TestSession.StartAsync();
        var made = new List<Gfid>();
        for (int i = 0; i < 10; i++) made.Add((await t.CreateFileAsync($"f{i}")).Node.Gfid);
        made.Add(TestSession.Ok(await t.Session.MkdirAsync(t.Ctx, t.Session.Root, "d", 0x1ED, 0)).Node.Gfid);
        Assert.Equal(made.Count, made.Distinct().Count());
        Assert.Single(made.Select(g => g.Hi >> 48).Distinct());
    }
}
