using Graft.Core;
using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Creates, writes, chmods, xattrs, renames, hard links and unlinks made while a copy was down are
/// healed onto it when the objects are looked up again, until the three brick directories are identical.
/// </summary>
public class ChangesMadeWhileACopyWasDownAreHealed
{
    [Fact]
    public async Task Access_after_the_copy_is_back_heals_it_until_the_bricks_are_identical()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        var vol = v.Volume;
        await vol.CreateDirectoryAsync("/d");
        await vol.WriteAllBytesAsync("/d/keep", "v1"u8.ToArray());
        await vol.WriteAllBytesAsync("/d/old", "old"u8.ToArray());
        await vol.WriteAllBytesAsync("/d/gone", "gone"u8.ToArray());
        await vol.WriteAllBytesAsync("/big", new byte[1 << 20]);

        await v.TakeDownAsync(0);
        await vol.WriteAllBytesAsync("/d/keep", "version two"u8.ToArray());
        await vol.ChmodAsync("/d/keep", 0x180);
        await vol.SetXattrAsync("/d/keep", "user.x", "1"u8.ToArray());
        await vol.WriteAllBytesAsync("/d/new", "new"u8.ToArray());
        await vol.CreateDirectoryAsync("/d/sub");
        await vol.WriteAllBytesAsync("/d/sub/deep", "deep"u8.ToArray());
        await vol.RenameAsync("/d/old", "/d/renamed");
        await vol.DeleteFileAsync("/d/gone");
        await vol.LinkAsync("/d/keep", "/d/hard");
        await using (var s = await vol.OpenAsync("/big", FileMode.Open))
        {
            s.Position = 300_000;
            await s.WriteAsync(new byte[] { 1, 2, 3 });
        }
        await v.BringBackAsync(0);
        Assert.NotEqual(Bricks.Describe(v.Bricks[1]), Bricks.Describe(v.Bricks[0]));

        // Access (lookups of every name) heals in the background; look again until it is all done.
        var until = DateTime.UtcNow.AddSeconds(30);
        string want = Bricks.Describe(v.Bricks[1]);
        while (DateTime.UtcNow < until && (Bricks.Describe(v.Bricks[0]) != want || !AllClean(v)))
        {
            foreach (var p in new[] { "/d", "/d/keep", "/d/new", "/d/sub", "/d/sub/deep", "/d/renamed", "/d/hard", "/big" })
                try { await vol.StatAsync(p); } catch (GraftIOException) { }
            await Task.Delay(50);
            want = Bricks.Describe(v.Bricks[1]);
        }
        Assert.Equal(want, Bricks.Describe(v.Bricks[0]));
        Assert.Equal(want, Bricks.Describe(v.Bricks[2]));
        Assert.True(AllClean(v), "counters still pending after the heal");
        Assert.True(v.Afr.HealsDone > 0);
        // And the healed copy serves reads: the other two gone, it alone answers.
        await v.TakeDownAsync(1);
        await v.TakeDownAsync(2);
        var fresh = await v.OpenClientAsync();
        Assert.Equal("version two"u8.ToArray(), await fresh.ReadAllBytesAsync("/d/keep"));
    }

    private static bool AllClean(ReplicatedVolume v) =>
        new[] { "/", "/d", "/d/keep", "/d/new", "/d/sub", "/d/sub/deep", "/d/renamed", "/big" }.All(p => v.Clean(p));
}

/// <summary>A split brain is resolved by favorite-child-policy, or by naming the source; never silently otherwise.</summary>
public class SplitBrainResolution
{
    private static async Task<ReplicatedVolume> SplitAsync(string options)
    {
        // self-heal off: the heal under test is the one the test starts.
        var v = await ReplicatedVolume.CreateAsync(2, options + ";self-heal off");
        await v.Volume.WriteAllBytesAsync("/f", "same"u8.ToArray());
        File.WriteAllText(v.On(1, "/f"), "bigger copy");
        v.SetCounter(0, "/f", of: 1, Pending.Data, 1);
        v.SetCounter(1, "/f", of: 0, Pending.Data, 1);
        return v;
    }

    [Fact]
    public async Task Size_policy_heals_from_the_biggest_copy()
    {
        await using var v = await SplitAsync("favorite-child-policy size");
        var fresh = await v.OpenClientAsync();
        var gfid = (await fresh.ListDirectoryAsync("/")).Single(e => e.Name == "f").Gfid;
        Assert.Equal(HealOutcome.Healed, await v.Afr.HealAsync(gfid));
        Assert.Equal("bigger copy", File.ReadAllText(v.On(0, "/f")));
        Assert.True(v.Clean("/f"));
    }

    [Fact]
    public async Task Without_a_policy_it_stays_split_until_a_source_is_named()
    {
        await using var v = await SplitAsync("");
        var fresh = await v.OpenClientAsync();
        var gfid = (await fresh.ListDirectoryAsync("/")).Single(e => e.Name == "f").Gfid;
        Assert.Equal(HealOutcome.SplitBrain, await v.Afr.HealAsync(gfid));
        Assert.Equal("same", File.ReadAllText(v.On(0, "/f")));
        Assert.Equal(HealOutcome.Healed, await v.Afr.HealAsync(gfid, source: 0));
        Assert.Equal("same", File.ReadAllText(v.On(1, "/f")));
        Assert.Equal("same"u8.ToArray(), await (await v.OpenClientAsync()).ReadAllBytesAsync("/f"));
    }
}

/// <summary>
/// A name removed while a copy was down is still on that copy when it comes back; until the directory is
/// healed, a lookup answers what the copies the directory does not blame say (ENOENT), not the stale copy.
/// </summary>
public class ANameOnlyABlamedCopyStillHasIsGone
{
    [Fact]
    public async Task Unlinked_and_renamed_names_stay_gone_before_the_heal()
    {
        // self-heal off: nothing repairs the copy behind the test's back.
        await using var v = await ReplicatedVolume.CreateAsync(3, "self-heal off");
        await v.Volume.WriteAllBytesAsync("/gone", "x"u8.ToArray());
        await v.Volume.WriteAllBytesAsync("/old", "y"u8.ToArray());
        await v.TakeDownAsync(1);
        await v.Volume.DeleteFileAsync("/gone");
        await v.Volume.RenameAsync("/old", "/renamed");
        await v.BringBackAsync(1);
        Assert.True(File.Exists(v.On(1, "/gone")), "the copy that was down still has the name");

        var fresh = await v.OpenClientAsync();
        await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/gone"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/old"));
        Assert.Equal("y"u8.ToArray(), await fresh.ReadAllBytesAsync("/renamed"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => v.Volume.StatAsync("/gone"));
    }
}
