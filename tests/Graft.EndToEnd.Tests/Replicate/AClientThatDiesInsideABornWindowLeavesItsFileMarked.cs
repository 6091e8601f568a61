using System.Globalization;
using System.Text;
using Graft.Client;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// A client that creates a file (born in its write window: every brick granted its lock and pre-op with the
/// create), writes it and vanishes without a goodbye (its connections reset, never back) leaves copies that are
/// equal and each marked as in the middle of a change; once the bricks' grace for its sessions passes, their
/// locks go with them, and another client's lookup heals the file clean, with the data the first one wrote.
/// </summary>
public class AClientThatDiesInsideABornWindowLeavesItsFileMarked
{
    [Fact]
    public async Task The_copies_stay_equal_and_dirty_until_another_clients_lookup_heals_them_once_the_locks_are_gone()
    {
        var temp = BrickProcess.NewTempDir();
        var bricks = new List<BrickProcess>();
        var proxies = new List<TcpProxy>();
        Volume? dying = null, other = null;
        try
        {
            await BrickProcess.ServeNewDirsAsync(temp, 3, bricks, "--grace-timeout", "2s");
            foreach (var b in bricks) proxies.Add(new TcpProxy(b.Port));
            var options = new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) };
            dying = await Volume.OpenVolfileTextAsync(Volfile(proxies.Select(p => p.Port).ToList(), "post-op-delay 60s"), "afr.vol", options);
            var s = await dying.OpenAsync("/f", FileMode.CreateNew);
            await s.WriteAsync("written"u8.ToArray());
            var afr = dying.Session.ActiveGraph.Translators.OfType<ReplicateTranslator>().Single();
            Assert.Equal(1, afr.LockedCreates);

            // It vanishes: every connection reset, and none accepted again.
            foreach (var p in proxies) { p.Refusing = true; p.CutAll(); }
            for (int i = 0; i < 3; i++)
            {
                var path = Path.Combine(temp, "b" + i, "f");
                Assert.Equal("written", await File.ReadAllTextAsync(path));
                Assert.Equal(1, Count(path, i));                       // its own count: in the middle of a change
                for (int j = 0; j < 3; j++) if (j != i) Assert.Equal(0, Count(path, j));
            }

            // Another client heals it as `graft heal` does (the heal index lists it): under the file's lock, which the
            // bricks hold for the vanished client's sessions until their grace passes.
            other = await Volume.OpenVolfileTextAsync(Volfile(bricks.Select(b => b.Port).ToList(), ""), "afr.vol", options);
            var healer = other.Session.ActiveGraph.Translators.OfType<ReplicateTranslator>().Single();
            var gfid = (await other.StatAsync("/f")).Gfid;
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!Enumerable.Range(0, 3).All(i => Clean(Path.Combine(temp, "b" + i, "f"))))
            {
                Assert.True(DateTime.UtcNow < until, "the file was not healed clean after its client vanished");
                Assert.NotEqual(HealOutcome.SplitBrain, await healer.HealAsync(gfid));
                await Task.Delay(100);
            }
            Assert.Equal("written"u8.ToArray(), await other.ReadAllBytesAsync("/f"));
            for (int i = 0; i < 3; i++) Assert.Equal("written", await File.ReadAllTextAsync(Path.Combine(temp, "b" + i, "f")));
            try { await s.DisposeAsync(); } catch (IOException) { } // its close cannot reach a brick any more
        }
        finally
        {
            if (other is not null) await other.DisposeAsync();
            if (dying is not null) await dying.DisposeAsync();
            foreach (var p in proxies) await p.DisposeAsync();
            foreach (var b in bricks) await b.DisposeAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static long Count(string path, int of) =>
        Xattr.Get(path, Pending.NameFor("b" + of)) is { } v ? Pending.Read(v, Pending.Data) : 0;

    private static bool Clean(string path)
    {
        for (int j = 0; j < 3; j++)
            if (Xattr.Get(path, Pending.NameFor("b" + j)) is { } counters)
                for (int k = 0; k < Pending.Kinds; k++) if (Pending.Read(counters, k) != 0) return false;
        return true;
    }

    private static string Volfile(List<int> ports, string afrOptions)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < ports.Count; i++)
            sb.Append(CultureInfo.InvariantCulture, $"volume b{i}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {ports[i]}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\n    option reconnect-max-backoff 200ms\nend-volume\n\n");
        sb.Append("volume afr\n    type cluster/replicate\n");
        foreach (var o in afrOptions.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
        return sb.Append("    subvolumes b0 b1 b2\nend-volume\n").ToString();
    }
}
