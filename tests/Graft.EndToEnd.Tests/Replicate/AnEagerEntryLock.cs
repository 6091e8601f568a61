using System.Diagnostics;
using Graft.Client;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Tests.Replicate;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// A mount of three brick processes under cluster/replicate, whose creates in a directory share one
/// entry lock (entry-lock-delay): another client of the same bricks that wants a name in that directory
/// gets it once the delay is over — not before (the lock was held), and within a bound.
/// </summary>
public class AnEagerEntryLockIsGivenToAnotherClientWithinTheDelay
{
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);

    [MountFact]
    public async Task Its_create_waits_for_the_delay_and_no_longer_and_the_copies_end_equal_and_clean()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-elock-other", 3, "entry-lock-delay 2s", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        Directory.CreateDirectory(m.P("d"));
        await using var other = await Volume.OpenVolfileTextAsync(m.Volfile(), "other.vol", new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
        Assert.True(await other.ExistsAsync("/d"));

        var since = Stopwatch.StartNew();
        await File.WriteAllTextAsync(m.P("d", "mine"), "mine"); // the mount's first change in /d: it takes /d's entry lock for 2 s
        await other.WriteAllBytesAsync("/d/theirs", "theirs"u8.ToArray()).WaitAsync(TimeSpan.FromSeconds(30));
        // The mount gives the lock back only once its timer fires, which it set after the create began.
        Assert.True(since.Elapsed >= Delay - TimeSpan.FromMilliseconds(50), $"the other client's create was made {since.Elapsed} after the lock was taken");
        Assert.True(m.TranslatorCounter("dht", "leasedEntryChanges") > 0);

        await File.WriteAllTextAsync(m.P("d", "again"), "again"); // and the mount gets it back from the other client
        Assert.Equal("theirs", await File.ReadAllTextAsync(m.P("d", "theirs")));
        var want = Bricks.Describe(m.BrickDirs[0]);
        Assert.Equal(want, Bricks.Describe(m.BrickDirs[1]));
        Assert.Equal(want, Bricks.Describe(m.BrickDirs[2]));
        Assert.Contains("d/mine ", want);
        Assert.Contains("d/theirs ", want);
        Assert.Contains("d/again ", want);
        Assert.Matches(@"heal: 0 healed, 0 pending, 0 split-brain\s*$", (await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info")).Ok("heal --info").Out);
    }
}

/// <summary>
/// Creates, renames and unlinks in one directory go on through a mount, under eager entry locks, while
/// one of its three brick processes is killed with SIGKILL and started again: none fails, every file
/// acknowledged is there with its data, and `graft heal` makes the three brick directories identical.
/// </summary>
public class EntryChangesGoOnWhileABrickIsKilledUnderAnEagerEntryLock
{
    [MountFact]
    public async Task None_fails_none_is_lost_and_the_heal_makes_the_bricks_identical()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-elock-kill", 3, "entry-lock-delay 5s", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        var d = m.P("d");
        Directory.CreateDirectory(d);
        using var stop = new CancellationTokenSource();
        var want = new Dictionary<string, string>();
        int made = 0;
        var changes = Task.Run(async () =>
        {
            for (int k = 0; !stop.IsCancellationRequested; k++)
            {
                await File.WriteAllTextAsync(Path.Combine(d, $"f{k}"), $"file {k}");
                want[$"f{k}"] = $"file {k}";
                if (k % 5 == 4) { File.Move(Path.Combine(d, $"f{k}"), Path.Combine(d, $"g{k}")); want[$"g{k}"] = want[$"f{k}"]; want.Remove($"f{k}"); }
                else if (k % 7 == 6) { File.Delete(Path.Combine(d, $"f{k}")); want.Remove($"f{k}"); }
                Volatile.Write(ref made, k + 1);
            }
        });
        async Task GoOn(string when, int more)
        {
            int then = Volatile.Read(ref made);
            await Proc.Until(() => changes.IsFaulted || Volatile.Read(ref made) >= then + more, $"the changes to go on {when}", 90);
            Assert.False(changes.IsFaulted, changes.Exception + "\n" + m.Logs());
        }

        await GoOn("before the kill", 30);
        await m.KillBrickAsync(1);
        await GoOn("with brick 1 killed", 30);
        await m.RestartBrickAsync(1);
        await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == 3, "the mount to see brick 1 again", 60);
        await GoOn("after brick 1 came back", 30);
        stop.Cancel();
        await changes.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(m.TranslatorCounter("dht", "leasedEntryChanges") > 60, "the changes were not made under eager entry locks");

        Assert.Equal(want.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(d).Select(Path.GetFileName).Order(StringComparer.Ordinal)!);
        foreach (var (name, text) in want) Assert.Equal(text, await File.ReadAllTextAsync(Path.Combine(d, name)));

        await m.HealAndCompareBricksAsync();
        Assert.Matches(@"heal: 0 healed, 0 pending, 0 split-brain\s*$", (await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info")).Ok("heal --info after the heal").Out);
    }
}
