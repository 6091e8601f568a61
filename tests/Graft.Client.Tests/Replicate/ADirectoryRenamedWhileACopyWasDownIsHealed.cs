using Graft.Core;
using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Debug.Faults;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Directories renamed while a copy was down — within their parent and to another parent — and a hard
/// link made into another directory meanwhile: when the copy is back, the heal moves each directory on
/// that copy to where the others have it (its files go with it, not copied again), in whichever order
/// the two parents are healed, or as lookups come. The copies end identical, GFIDs included: no
/// directory is left under its old name and no file is lost.
/// </summary>
public class ADirectoryRenamedWhileACopyWasDownIsHealed
{
    private static readonly string[] Paths =
        ["/", "/a", "/b", "/a/d1r", "/a/d1r/f1", "/a/d1r/f2", "/a/d1r/s", "/a/d1r/s/f3", "/b/d2m", "/b/d2m/g", "/b/hl"];

    /// <summary>The tree, then, with copy 0 down, the renames, the link and a write; copy 0 back. Returns copy 0's inode numbers of f1 and g.</summary>
    private static async Task<(ulong F1, ulong G)> RenameWhileDownAsync(ReplicatedVolume v)
    {
        var vol = v.Volume;
        foreach (var d in new[] { "/a", "/b", "/a/d1", "/a/d1/s", "/a/d2" }) await vol.CreateDirectoryAsync(d);
        await vol.WriteAllBytesAsync("/a/d1/f1", "one"u8.ToArray());
        await vol.WriteAllBytesAsync("/a/d1/f2", "two"u8.ToArray());
        await vol.WriteAllBytesAsync("/a/d1/s/f3", "three"u8.ToArray());
        await vol.WriteAllBytesAsync("/a/d2/g", "gee"u8.ToArray());
        var inodes = (Syscall.Lstat(v.On(0, "/a/d1/f1")).Ino, Syscall.Lstat(v.On(0, "/a/d2/g")).Ino);

        await v.TakeDownAsync(0);
        await vol.RenameAsync("/a/d1", "/a/d1r");
        await vol.RenameAsync("/a/d2", "/b/d2m");
        await vol.LinkAsync("/a/d1r/f1", "/b/hl");
        await vol.WriteAllBytesAsync("/a/d1r/f2", "two, changed"u8.ToArray());
        await v.BringBackAsync(0);
        Assert.True(Directory.Exists(v.On(0, "/a/d1")) && Directory.Exists(v.On(0, "/a/d2")), "copy 0 still has the old names");
        return inodes;
    }

    private static void AssertHealed(ReplicatedVolume v, (ulong F1, ulong G) inodes)
    {
        var want = Bricks.Describe(v.Bricks[1]);
        Assert.Equal(want, Bricks.Describe(v.Bricks[0]));
        Assert.Equal(want, Bricks.Describe(v.Bricks[2]));
        Assert.DoesNotContain("a/d1 ", want);
        Assert.DoesNotContain("a/d2", want);
        Assert.Contains("a/d1r/s/f3 ", want);
        Assert.Contains("b/d2m/g ", want);
        Assert.Equal("two, changed", File.ReadAllText(v.On(0, "/a/d1r/f2")));
        // Moved, not made again: copy 0's files are the ones it had.
        Assert.Equal(inodes.F1, Syscall.Lstat(v.On(0, "/a/d1r/f1")).Ino);
        Assert.Equal(inodes.F1, Syscall.Lstat(v.On(0, "/b/hl")).Ino);
        Assert.Equal(inodes.G, Syscall.Lstat(v.On(0, "/b/d2m/g")).Ino);
    }

    private static bool Done(ReplicatedVolume v) =>
        Bricks.Describe(v.Bricks[0]) == Bricks.Describe(v.Bricks[1]) && Paths.All(p => !Directory.Exists(v.On(0, p)) && !File.Exists(v.On(0, p)) || v.Clean(p));

    [Theory]
    [InlineData("/a", "/b")]
    [InlineData("/b", "/a")]
    public async Task Healing_the_parents_in_either_order_moves_each_directory_on_the_copy(string first, string second)
    {
        // self-heal off: only the heals the test asks for run (in its order), as in `graft heal`.
        await using var v = await ReplicatedVolume.CreateAsync(3, "self-heal off");
        var inodes = await RenameWhileDownAsync(v);
        var fresh = await v.OpenClientAsync();
        var afr = (ReplicateTranslator)fresh.Session.ActiveGraph.Top;
        Assert.Equal(HealOutcome.Healed, await afr.HealAsync((await fresh.StatAsync(first)).Gfid));
        Assert.Equal(HealOutcome.Healed, await afr.HealAsync((await fresh.StatAsync(second)).Gfid));
        // The rest (f2's data, the new link's count): a pass over every object, as `graft heal` makes.
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!Done(v) && DateTime.UtcNow < until)
            foreach (var p in Paths)
                Assert.NotEqual(HealOutcome.SplitBrain, await afr.HealAsync((await fresh.StatAsync(p)).Gfid));
        AssertHealed(v, inodes);
        Assert.All(Paths, p => Assert.True(v.Clean(p), $"{p} still pending"));
    }

    /// <summary>
    /// Lookups only, through a fresh client, while the client that made the renames may still be healing
    /// what its own lookups found (its heals and the fresh client's take no turns here: these bricks have no
    /// lock service, see TwoHealsOfOneObjectTakeItsCountsOffOnce). With the eager entry lock off and on.
    /// </summary>
    [Theory]
    [InlineData("entry-lock-delay 0")]
    [InlineData("entry-lock-delay 100ms")]
    public async Task Lookups_after_the_copy_is_back_heal_it(string options)
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, options);
        var inodes = await RenameWhileDownAsync(v);
        var fresh = await v.OpenClientAsync();
        await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/a/d1"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/a/d2"));
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!Done(v) && DateTime.UtcNow < until)
        {
            foreach (var p in Paths) await fresh.StatAsync(p);
            await Task.Delay(50);
        }
        AssertHealed(v, inodes);
        Assert.All(Paths, p => Assert.True(v.Clean(p), $"{p} still pending"));
        Assert.Equal("three"u8.ToArray(), await fresh.ReadAllBytesAsync("/a/d1r/s/f3"));
    }

    /// <summary>
    /// The race that made the Fact above fail in CI, made certain: the lookup of the old name has copy 0's
    /// stale answer and waits for the other copies while this client's heal of /a moves the directory on
    /// copy 0 and clears /a's counters, so the verdict it then reaches blames nobody. The old name must
    /// still be ENOENT — and never come back on any copy once lookups (self-heal on) have healed the rest.
    /// </summary>
    [Fact]
    public async Task A_lookup_that_read_the_old_name_before_the_heal_moved_it_answers_ENOENT()
    {
        // self-heal off at first: the one heal of /a is the test's, run while the lookup waits.
        await using var v = await ReplicatedVolume.CreateAsync(3, "self-heal off");
        var inodes = await RenameWhileDownAsync(v);
        var fresh = await v.OpenClientAsync();
        var afr = (ReplicateTranslator)fresh.Session.ActiveGraph.Top;
        var a = await fresh.StatAsync("/a"); // this client's verdict on /a: copy 0 blamed
        // The stat's walk looks up /a, then /a/d1: on copies 1 and 2 both wait (a second each); copy 0 answers at once.
        var faults = new[] { 1, 2 }.Select(i => (FaultsTranslator)fresh.Session.ActiveGraph.Find("b" + i)!).ToArray();
        var before = faults.Select(f => f.Injected).ToArray();
        for (int i = 1; i <= 2; i++) await v.FaultAsync(i, "delay lookup; delay-duration 1s; delay-count 2", fresh);
        var stat = fresh.StatAsync("/a/d1");
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!(faults[0].Injected == before[0] + 2 && faults[1].Injected == before[1] + 2))
        {
            Assert.True(DateTime.UtcNow < until, "the lookup of /a/d1 did not reach copies 1 and 2 within 30 s");
            await Task.Delay(10);
        }
        // The lookup of /a/d1 is waiting on copies 1 and 2; copy 0 told it d1 is there.
        Assert.Equal(HealOutcome.Healed, await afr.HealAsync(a.Gfid));
        Assert.False(Directory.Exists(v.On(0, "/a/d1")), "the heal moved d1 on copy 0");
        await Errors.ThrowsErrno(Errno.ENOENT, () => stat);
        for (int i = 1; i <= 2; i++) await v.FaultAsync(i, "", fresh);

        afr.SelfHeal = true;
        until = DateTime.UtcNow.AddSeconds(30);
        while (!Done(v) && DateTime.UtcNow < until)
        {
            await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/a/d1"));
            foreach (var p in Paths) await fresh.StatAsync(p);
            await Task.Delay(50);
        }
        AssertHealed(v, inodes);
        Assert.All(Paths, p => Assert.True(v.Clean(p), $"{p} still pending"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => fresh.StatAsync("/a/d1"));
    }
}
