using System.Text;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>Files of a mounted volume over four brick processes are spread evenly, each on one brick.</summary>
public class FilesSpreadOverBrickProcesses
{
    [MountFact]
    public async Task A_thousand_files_spread_within_25_percent_of_the_mean_per_brick()
    {
        await using var m = await DistributedMount.StartAsync("dht-spread", 4);
        var d = m.P("spread");
        Directory.CreateDirectory(d);
        for (int i = 0; i < 1000; i++) await File.WriteAllTextAsync(Path.Combine(d, $"f{i:D4}"), $"{i}");
        var per = Enumerable.Range(0, 4).Select(b => Directory.GetFiles(m.On(b, "/spread")).Length).ToArray();
        Assert.Equal(1000, per.Sum());
        Assert.All(per, n => Assert.InRange(n, 250 * 0.75, 250 * 1.25));
        Assert.Equal(1000, Directory.GetFiles(d).Length);
        Assert.Equal("517", await File.ReadAllTextAsync(Path.Combine(d, "f0517")));
    }
}

/// <summary>A brick that is down makes its own files fail with ENOTCONN; the other bricks' files and listings go on working.</summary>
public class ABrickDown
{
    [MountFact]
    public async Task The_other_bricks_files_still_work_and_listings_show_what_is_reachable()
    {
        await using var m = await DistributedMount.StartAsync("dht-down", 3, "", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        var d = m.P("d");
        Directory.CreateDirectory(d);
        for (int i = 0; i < 60; i++) await File.WriteAllTextAsync(Path.Combine(d, $"f{i}"), $"{i}");
        var onBrick1 = Directory.GetFiles(m.On(1, "/d")).Select(Path.GetFileName).ToHashSet();
        Assert.NotEmpty(onBrick1);
        await m.KillBrickAsync(1);
        for (int i = 0; i < 60; i++)
        {
            var f = Path.Combine(d, $"f{i}");
            if (onBrick1.Contains($"f{i}"))
            {
                var e = Assert.ThrowsAny<IOException>(() => File.ReadAllText(f));
                Assert.Contains("not connected", e.Message, StringComparison.OrdinalIgnoreCase);
            }
            else Assert.Equal($"{i}", await File.ReadAllTextAsync(f));
        }
        var listed = Directory.GetFiles(d).Select(Path.GetFileName).ToHashSet();
        Assert.Equal(60 - onBrick1.Count, listed.Count);
        Assert.DoesNotContain(listed, onBrick1.Contains);
        // Writing goes on to the bricks that are up.
        var r = await Proc.Sh($"cd '{d}' && for i in $(seq 100 140); do echo $i > g$i 2>/dev/null; done; ls | grep -c '^g'");
        Assert.InRange(int.Parse(r.Out.Trim(), System.Globalization.CultureInfo.InvariantCulture), 1, 40);
    }
}
