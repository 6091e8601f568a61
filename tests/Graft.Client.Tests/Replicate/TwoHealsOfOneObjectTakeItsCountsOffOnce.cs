using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Debug.Faults;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Two clients heal one object at the same time, and nothing makes them take turns: each reads the same
/// counts, heals, and takes those counts off. (These library volumes have no lock service on their bricks,
/// and a file's data heal gives its lock back while it copies, so with brick processes another client's
/// heal can run whole in between.) The counts come off once: every counter ends at zero, none below —
/// a counter left at -1 blames nobody, so no lookup ever heals it again, and the object stays "pending"
/// for ever (what ADirectoryRenamedWhileACopyWasDownIsHealed's lookups-only Fact met under load).
/// </summary>
public class TwoHealsOfOneObjectTakeItsCountsOffOnce
{
    [Theory]
    [InlineData("/d")] // a name removed while copy 0 was down: entry counters
    [InlineData("/g")] // data written while copy 0 was down: data counters
    public async Task Racing_heals_leave_every_counter_at_zero(string path)
    {
        // self-heal off: only the two heals the test starts run.
        await using var v = await ReplicatedVolume.CreateAsync(3, "self-heal off");
        var vol = v.Volume;
        await vol.CreateDirectoryAsync("/d");
        await vol.WriteAllBytesAsync("/d/f", "f"u8.ToArray());
        await vol.WriteAllBytesAsync("/g", "old"u8.ToArray());
        await v.TakeDownAsync(0);
        await vol.DeleteFileAsync("/d/f");
        await vol.WriteAllBytesAsync("/g", "new, and longer"u8.ToArray());
        await v.BringBackAsync(0);
        Assert.False(v.Clean(path), $"{path} is pending before the heals");

        var a = await v.OpenClientAsync();
        var b = await v.OpenClientAsync();
        var gfid = (await a.StatAsync(path)).Gfid;
        var afrA = (ReplicateTranslator)a.Session.ActiveGraph.Top;
        var afrB = (ReplicateTranslator)b.Session.ActiveGraph.Top;
        // A's heal takes its counts off copies 1 and 2 (the ones blaming copy 0) two seconds late: B's heal
        // reads the same counts meanwhile, heals and takes them off first.
        var faults = new[] { 1, 2 }.Select(i => (FaultsTranslator)a.Session.ActiveGraph.Find("b" + i)!).ToArray();
        var before = faults.Select(f => f.Injected).ToArray();
        for (int i = 1; i <= 2; i++) await v.FaultAsync(i, "delay xattrop; delay-duration 2s; delay-count 1", a);
        var healA = afrA.HealAsync(gfid);
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!(faults[0].Injected > before[0] && faults[1].Injected > before[1]))
        {
            Assert.True(DateTime.UtcNow < until, "A's heal did not reach its counter reset within 30 s");
            Assert.False(healA.IsCompleted, "A's heal ended before its counter reset");
            await Task.Delay(10);
        }
        Assert.Equal(HealOutcome.Healed, await afrB.HealAsync(gfid));
        Assert.Equal(HealOutcome.Healed, await healA.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.True(v.Clean(path), $"{path}'s counters after both heals: {Counters(v, path)}");
        Assert.Equal(Of(v, 1, path), Of(v, 0, path)); // healed: copy 0 is like the others
        Assert.Equal(HealOutcome.Clean, await afrB.HealAsync(gfid));
    }

    /// <summary>Brick <paramref name="i"/>'s description of <paramref name="path"/> and what is under it.</summary>
    private static string Of(ReplicatedVolume v, int i, string path)
    {
        var rel = path.TrimStart('/');
        return string.Concat(Bricks.Describe(v.Bricks[i]).Split('\n').Where(l => l.StartsWith(rel + " ", StringComparison.Ordinal) || l.StartsWith(rel + "/", StringComparison.Ordinal)).Select(l => l + "\n"));
    }

    private static string Counters(ReplicatedVolume v, string path) =>
        string.Join("; ", Enumerable.Range(0, 3).Select(i => $"copy {i}: " + string.Join(" ",
            Enumerable.Range(0, 3).Select(j => $"b{j}=" + string.Join(",", Enumerable.Range(0, Pending.Kinds).Select(k => v.Counter(i, path, j, k)))))));
}
