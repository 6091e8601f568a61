namespace Graft.Client.Tests.Replicate;

/// <summary>
/// The root is never looked up (paths start there), so a new client has no verdict on it when it first
/// lists it: the listing must still avoid a copy that missed names (replicate judges the directory at
/// opendir), not come from whichever copy the read policy picks.
/// </summary>
public class AFreshClientListsTheRootFromAGoodCopy
{
    [Fact]
    public async Task Names_made_while_a_copy_was_down_are_listed()
    {
        // first-up would list b0's copy, which missed the name; self-heal off so nothing mends it first.
        await using var v = await ReplicatedVolume.CreateAsync(3, "read-policy first-up; self-heal off");
        await v.TakeDownAsync(0);
        await v.Volume.WriteAllBytesAsync("/new", "x"u8.ToArray());
        await v.BringBackAsync(0);
        Assert.False(File.Exists(v.On(0, "/new")));

        var fresh = await v.OpenClientAsync();
        Assert.Contains("new", (await fresh.ListDirectoryAsync("/")).Select(e => e.Name));
    }
}
