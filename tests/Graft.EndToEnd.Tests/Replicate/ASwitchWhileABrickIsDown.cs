using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Tests.Replicate;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// A live switch in the middle of a brick's absence changes nothing: a mount of three brick processes
/// under cluster/replicate switches to a graph with a new top translator (write-behind over replicate)
/// and back, while brick 1 is killed and O_APPEND writers fsync every record; names are made, renamed
/// and removed between the switches. Every acknowledged record is there, and after brick 1 is back
/// `graft heal` makes the three brick directories identical — the counters that blame brick 1 were
/// kept on the bricks, so the graphs that came and went lost none of them.
/// </summary>
public class ASwitchWhileABrickIsDown
{
    [MountFact]
    public async Task Changes_nothing_no_record_is_lost_and_the_heal_makes_the_bricks_identical()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-switch", 3, "", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        var d = m.P("d");
        Directory.CreateDirectory(d);
        using var stop = new CancellationTokenSource();
        var counts = new int[2];
        // Opened before the switches: each file moves to the new graphs with its writes in flight.
        var writers = Enumerable.Range(0, 2).Select(w => Workloads.AppendRecordsAsync(Path.Combine(d, $"log{w}"), w, counts, stop.Token)).ToList();
        string Faults() => string.Join("\n", writers.Where(t => t.IsFaulted).Select(t => t.Exception!.ToString()));
        async Task GoOn(string when)
        {
            var then = counts.ToArray();
            await Proc.Until(() => writers.Any(t => t.IsFaulted) || counts.Zip(then).All(p => p.First >= p.Second + 20), $"writers to go on {when}", 90);
            Assert.False(writers.Any(t => t.IsFaulted), Faults() + "\n" + m.Logs());
        }
        var plain = m.Volfile();
        var withTop = plain + "\nvolume top\n    type performance/write-behind\n    subvolumes dht\nend-volume\n";

        await GoOn("before the kill");
        await File.WriteAllTextAsync(m.P("old"), "old");
        await File.WriteAllTextAsync(m.P("gone"), "gone");
        await m.KillBrickAsync(1);
        await GoOn("with brick 1 killed");

        var generation = m.ActiveGeneration();
        await m.ApplyVolfileAsync(withTop);
        Assert.True(m.ActiveGeneration() > generation, "adding a top translator builds a new graph");
        await GoOn("after the switch to write-behind over replicate");
        await File.WriteAllTextAsync(m.P("new"), "new");
        File.Move(m.P("old"), m.P("renamed"));
        File.Delete(m.P("gone"));

        generation = m.ActiveGeneration();
        await m.ApplyVolfileAsync(plain);
        Assert.True(m.ActiveGeneration() > generation, "removing the top translator builds a new graph");
        await GoOn("after the switch back");
        Directory.CreateDirectory(m.P("sub"));
        await File.WriteAllTextAsync(m.P("sub", "deep"), "deep");

        await m.RestartBrickAsync(1);
        await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == 3, "the mount to see brick 1 again", 60);
        await GoOn("after brick 1 came back");
        stop.Cancel();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

        for (int w = 0; w < 2; w++)
            Assert.Equal(Workloads.Records(w, counts[w]), await File.ReadAllBytesAsync(m.P("d", $"log{w}")));
        Assert.Equal("new", await File.ReadAllTextAsync(m.P("new")));
        Assert.Equal("old", await File.ReadAllTextAsync(m.P("renamed")));
        if (File.Exists(m.P("gone")))
        {
            var sb = new System.Text.StringBuilder();
            foreach (var b in m.BrickDirs)
            {
                sb.Append(b).Append(": ").AppendJoin(' ', Directory.GetFileSystemEntries(b).Select(Path.GetFileName)).Append('\n');
                var g = await Proc.RunAsync("getfattr", ["-d", "-m", "trusted.graft.pending", "-e", "hex", b], seconds: 10);
                sb.Append(g.Out).Append('\n');
            }
            Assert.Fail("an unlinked name came back:\n" + sb + m.Logs());
        }

        var want = await m.HealAndCompareBricksAsync();
        Assert.Contains("renamed", want);
        Assert.Contains("sub/deep", want);
        Assert.DoesNotContain("gone", want);
    }
}
