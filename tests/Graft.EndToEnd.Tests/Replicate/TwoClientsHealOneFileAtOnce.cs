using System.Globalization;
using System.Text;
using Graft.Client;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// Two clients of three `graft brick` processes (features/locks on each) heal one file at the same time.
/// A data heal reads the counters under the file's lock, then gives the lock back while it copies; client
/// A's copy is held there (its open of the sink waits 2 s) while client B's heal runs whole — lock, the same
/// counts, copy, take them off. A's heal then takes its counts off too. Each count comes off once: every
/// counter ends at zero. Before, they ended below zero (-2 here): blaming nobody, so no lookup healed the file again,
/// while `graft heal --info` and the bricks' heal index called it pending for ever.
/// </summary>
public sealed class TwoClientsHealOneFileAtOnce
{
    [Fact]
    public async Task Each_count_comes_off_once()
    {
        var temp = BrickProcess.NewTempDir();
        var bricks = new List<BrickProcess>();
        Volume? a = null, b = null;
        try
        {
            await BrickProcess.ServeNewDirsAsync(temp, 3, bricks);
            var options = new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) };
            a = await Volume.OpenVolfileTextAsync(Volfile(bricks, ""), "a.vol", options);
            b = await Volume.OpenVolfileTextAsync(Volfile(bricks, null), "b.vol", options);
            await a.WriteAllBytesAsync("/f", "old"u8.ToArray());
            // A's copy 0 answers ENOTCONN (cut off, not yet known gone): the write lands on copies 1 and 2, which blame 0.
            await Reconfigure(a, Volfile(bricks, "fail *; fail-errno ENOTCONN"));
            await a.WriteAllBytesAsync("/f", "new, and longer"u8.ToArray());
            Assert.True(Counter(temp, 1, 0) > 0, "copy 1 blames copy 0 before the heals");
            await Reconfigure(a, Volfile(bricks, "delay open; delay-duration 2s; delay-count 1"));

            var gfid = (await b.StatAsync("/f")).Gfid;
            var afrA = (ReplicateTranslator)a.Session.ActiveGraph.Top;
            var afrB = (ReplicateTranslator)b.Session.ActiveGraph.Top;
            var faults = (FaultsTranslator)a.Session.ActiveGraph.Find("b0")!;
            long before = faults.Injected;
            var healA = afrA.HealAsync(gfid);
            await Proc.Until(() => faults.Injected > before || healA.IsCompleted, "A's heal at its copy (the sink's open held)", 30);
            Assert.False(healA.IsCompleted, "A's heal ended before its copy");
            Assert.Equal(HealOutcome.Healed, await afrB.HealAsync(gfid));
            Assert.Equal(HealOutcome.Healed, await healA.WaitAsync(TimeSpan.FromSeconds(30)));

            for (int i = 0; i < 3; i++)
            {
                Assert.Equal("new, and longer", await File.ReadAllTextAsync(Path.Combine(temp, "b" + i, "f")));
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < Pending.Kinds; k++)
                        Assert.True(Counter(temp, i, j, k) == 0, $"copy {i}'s counter {k} for b{j} is {Counter(temp, i, j, k)} after both heals");
            }
            Assert.Equal(HealOutcome.Clean, await afrB.InspectAsync(gfid));
        }
        finally
        {
            if (a is not null) await a.DisposeAsync();
            if (b is not null) await b.DisposeAsync();
            foreach (var x in bricks) await x.DisposeAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static long Counter(string temp, int i, int of, int kind = Pending.Data) =>
        Xattr.Get(Path.Combine(temp, "b" + i, "f"), Pending.NameFor("b" + of)) is { } v ? Pending.Read(v, kind) : 0;

    private static async Task Reconfigure(Volume v, string volfile)
    {
        var r = await v.ApplyVolfileAsync(volfile, "a.vol");
        Assert.True(r.Outcome == Graft.Mount.SwitchOutcome.Reconfigured, r.Message);
    }

    /// <summary>
    /// Replicate (self-heal off: only the heals the test starts) over the three bricks' protocol/clients; with
    /// <paramref name="faults"/> (empty: none yet) a debug/faults layer named b0 over copy 0's (b0-client).
    /// </summary>
    private static string Volfile(List<BrickProcess> bricks, string? faults)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < bricks.Count; i++)
        {
            var name = faults is not null && i == 0 ? "b0-client" : $"b{i}";
            sb.Append(CultureInfo.InvariantCulture, $"volume {name}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {bricks[i].Port}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\nend-volume\n\n");
        }
        if (faults is not null)
        {
            sb.Append("volume b0\n    type debug/faults\n");
            foreach (var o in faults.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
            sb.Append("    subvolumes b0-client\nend-volume\n\n");
        }
        return sb.Append("volume afr\n    type cluster/replicate\n    option self-heal off\n    subvolumes b0 b1 b2\nend-volume\n").ToString();
    }
}
