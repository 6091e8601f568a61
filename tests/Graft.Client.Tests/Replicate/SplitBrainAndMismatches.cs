using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>Copies that blame each other are never read from silently: that file answers EIO, the others go on.</summary>
public class SplitBrainAnswersEio
{
    [Fact]
    public async Task A_constructed_split_brain_fails_reads_of_that_file_only()
    {
        await using var v = await ReplicatedVolume.CreateAsync(2);
        await v.Volume.WriteAllBytesAsync("/sb", "one"u8.ToArray());
        await v.Volume.WriteAllBytesAsync("/ok", "fine"u8.ToArray());
        // Each copy says the other missed a write, and neither blames itself.
        v.SetCounter(0, "/sb", of: 1, Pending.Data, 1);
        v.SetCounter(1, "/sb", of: 0, Pending.Data, 1);
        var fresh = await v.OpenClientAsync();
        await Errors.ThrowsErrno(Errno.EIO, () => fresh.ReadAllBytesAsync("/sb"));
        Assert.Equal("fine"u8.ToArray(), await fresh.ReadAllBytesAsync("/ok"));
        Assert.Contains(await fresh.ListDirectoryAsync("/"), e => e.Name == "sb");
    }

    [Fact]
    public async Task Copies_that_all_blame_themselves_are_read_from_the_biggest()
    {
        // What a client that died with a write window open over every copy leaves: each copy counts itself.
        await using var v = await ReplicatedVolume.CreateAsync(2, "read-policy first-up");
        await v.Volume.WriteAllBytesAsync("/f", "ab"u8.ToArray());
        File.WriteAllText(v.On(1, "/f"), "abcd");
        for (int i = 0; i < 2; i++) v.SetCounter(i, "/f", of: i, Pending.Data, 1);
        var fresh = await v.OpenClientAsync();
        Assert.Equal("abcd"u8.ToArray(), await fresh.ReadAllBytesAsync("/f"));
    }
}

/// <summary>Copies of one name with different GFIDs are never merged silently: EIO, logged, and a create that finds one takes back what it made.</summary>
public class GfidMismatchFailsCleanly
{
    [Fact]
    public async Task A_name_with_two_gfids_answers_eio()
    {
        await using var v = await ReplicatedVolume.CreateAsync(2);
        // Made behind replicate's back on each brick: each gets a GFID of its own at lookup.
        File.WriteAllText(v.On(0, "/twice"), "a");
        File.WriteAllText(v.On(1, "/twice"), "b");
        await Errors.ThrowsErrno(Errno.EIO, () => v.Volume.StatAsync("/twice"));
        Assert.True(v.Afr.Counters!["gfidMismatches"] > 0);
    }

    [Fact]
    public async Task A_create_that_meets_another_object_fails_and_leaves_nothing_made()
    {
        // self-heal off: the other client's lookup would start a heal of / that, with no lock
        // service in an in-process graph, could run in the middle of the create.
        await using var v = await ReplicatedVolume.CreateAsync(3, "self-heal off");
        File.WriteAllText(v.On(1, "/f"), "theirs");
        Assert.True(await (await v.OpenClientAsync()).ExistsAsync("/f")); // another client's lookup gives b1's file a GFID
        // b1's lookup fails, so the name looks free and the create goes to every copy.
        await v.FaultAsync(1, "fail lookup; fail-errno ENOTCONN");
        await Errors.ThrowsErrno(Errno.EIO, () => v.Volume.WriteAllBytesAsync("/f", "ours"u8.ToArray()));
        Assert.False(File.Exists(v.On(0, "/f")));
        Assert.False(File.Exists(v.On(2, "/f")));
        Assert.Equal("theirs", File.ReadAllText(v.On(1, "/f")));
    }
}
