using System.Globalization;
using System.Text;
using Graft.Client;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Cluster.Distribute;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>
/// Two clients of real brick processes rewrite the root's layout at once: one heals the layout it found
/// missing (its first layout gives the one brick that holds names the whole hash space), the other runs a
/// fix-layout (the even split, as after add-brick). The heal's write to the first brick is held back and
/// the fix-layout comes meanwhile. They take turns under the directory's layout lock, so the bricks keep the
/// fix-layout's split. Without the lock the heal's late write gave the old brick the whole space again and
/// every new file went there (AddBrickThroughAMount's failure in CI: the daemon's fix-layout ran while the
/// switched mount healed the root's layout).
/// </summary>
public sealed class LayoutRewritesTakeTurns
{
    [Fact]
    public async Task A_fix_layout_is_not_written_over_by_a_heal_decided_before_it()
    {
        var home = Proc.PrivateDir("layout-turns");
        var dirs = new[] { Path.Combine(home, "b0"), Path.Combine(home, "b1") };
        foreach (var d in dirs) Directory.CreateDirectory(d);
        await File.WriteAllTextAsync(Path.Combine(dirs[0], "old"), "x");
        await using var b0 = await BrickProcess.ServeDirAsync(dirs[0]);
        await using var b1 = await BrickProcess.ServeDirAsync(dirs[1]);
        int[] ports = [b0.Port, b1.Port];
        var options = new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(30) };
        // The healer's first setxattr on b0 (its layout write) waits 2 s.
        await using var healer = await Volume.OpenVolfileTextAsync(Volfile(ports, "delay setxattr; delay-duration 2s; delay-count 1"), "healer.vol", options);
        await using var fixer = await Volume.OpenVolfileTextAsync(Volfile(ports, null), "fixer.vol", options);
        try
        {
            var faults = (FaultsTranslator)healer.Session.ActiveGraph.Find("b0")!;
            var healerDht = (DistributeTranslator)healer.Session.ActiveGraph.Top;
            var fixerDht = (DistributeTranslator)fixer.Session.ActiveGraph.Top;
            Assert.Equal(0, faults.Injected);
            // A lookup of a name in / finds no layout there and heals it: its write to b1 lands, to b0 waits.
            var heal = healer.ExistsAsync("/new");
            await Proc.Until(() => faults.Injected == 1, "the healer's layout write to b0 held back", 30);
            await fixer.SetXattrAsync("/", DistributeTranslator.FixLayoutKey, ReadOnlyMemory<byte>.Empty);
            Assert.False(await heal);
            Assert.Equal(1, healerDht.LayoutsHealed);
            Assert.Equal(1, fixerDht.LayoutsFixed);

            var even = Layout.Fresh(2, [0, 1], 0, settled: false);
            var want = string.Join(", ", even.Select((e, i) => $"{i}={e.Range}"));
            var now = Encoding.UTF8.GetString(await fixer.GetXattrAsync("/", DistributeTranslator.LayoutKey));
            Assert.True(now.EndsWith(": " + want, StringComparison.Ordinal) && !now.Contains("incomplete", StringComparison.Ordinal),
                $"the root's layout on the bricks is {now}, not the fix-layout's {want}");
        }
        finally
        {
            try { Directory.Delete(home, true); } catch (IOException) { }
        }
    }

    /// <summary>distribute over both bricks' protocol/clients, with a debug/faults layer (named b0, as the subvolume) over b0's when <paramref name="faults"/> is given.</summary>
    private static string Volfile(int[] ports, string? faults)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < ports.Length; i++)
        {
            var name = faults is not null && i == 0 ? "b0-client" : $"b{i}";
            sb.Append(CultureInfo.InvariantCulture, $"volume {name}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {ports[i]}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\nend-volume\n\n");
        }
        if (faults is not null)
        {
            sb.Append("volume b0\n    type debug/faults\n");
            foreach (var o in faults.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
            sb.Append("    subvolumes b0-client\nend-volume\n\n");
        }
        sb.Append("volume dht\n    type cluster/distribute\n    subvolumes ").AppendJoin(' ', ports.Select((_, i) => "b" + i)).Append("\nend-volume\n");
        return sb.ToString();
    }
}
