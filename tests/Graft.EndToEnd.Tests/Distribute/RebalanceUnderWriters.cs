using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>
/// A full rebalance after add-brick while applications write through a mount: O_APPEND writers and an
/// fsx-style random writer that keep their files open, and appenders that open, append one record and
/// close, over and over (so their files can move between two records). Afterwards every byte is checked;
/// the files held open for writing were skipped and reported; everything else is where its name hashes.
/// </summary>
public class RebalanceUnderWriters
{
    [MountFact]
    public async Task No_byte_is_lost_files_open_for_writing_are_skipped_and_reported_and_the_rest_moved()
    {
        await using var m = await DistributedMount.StartAsync("dht-rebal-writers", 2);
        var d = m.P("d");
        Directory.CreateDirectory(d);
        var rnd = new Random(5);
        var still = new Dictionary<string, byte[]>();
        for (int i = 0; i < 60; i++)
        {
            var data = new byte[1000 + rnd.Next(30_000)];
            rnd.NextBytes(data);
            still[$"s{i:D2}"] = data;
            await File.WriteAllBytesAsync(Path.Combine(d, $"s{i:D2}"), data);
        }
        await m.AddBrickAsync();

        // Names on b1 now that hash to the new b2 once /d is spread over three: each of them must move, unless open.
        var held = Enumerable.Range(0, 4).Select(k => Moves.NameHashedTo(2, of: 3, prefix: $"held{k}-")).ToList();
        var reopened = Enumerable.Range(0, 2).Select(k => Moves.NameHashedTo(2, of: 3, prefix: $"reopened{k}-")).ToList();
        using var stop = new CancellationTokenSource();
        // Records written: appenders 0..2 (held[0..2]), then the reopening appenders; held[3] is the fsx run's.
        var counts = new int[3 + reopened.Count];
        var appenders = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            await using var s = new FileStream(Path.Combine(d, held[w]), FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
            for (int r = 0; !stop.IsCancellationRequested; r++)
            {
                await s.WriteAsync(Workloads.Record(w, r));
                await s.FlushAsync();
                Volatile.Write(ref counts[w], r + 1);
                await Task.Delay(2);
            }
        })).ToList();
        var fsxOps = new int[1];
        var fsx = Task.Run(() => Workloads.FsxRun(Path.Combine(d, held[3]), fsxOps, stop.Token));
        var reopening = Enumerable.Range(0, reopened.Count).Select(k => Task.Run(async () =>
        {
            int w = 10 + k;
            for (int r = 0; !stop.IsCancellationRequested; r++)
            {
                await using (var s = new FileStream(Path.Combine(d, reopened[k]), FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1))
                    await s.WriteAsync(Workloads.Record(w, r));
                Volatile.Write(ref counts[3 + k], r + 1);
            }
        })).ToList();
        await Proc.Until(() => counts.All(c => c >= 20) && Volatile.Read(ref fsxOps[0]) >= 50,
                         "every writer to be under way", 60);

        var r = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath, "--json");
        var during = counts.ToArray();
        int fsxDuring = Volatile.Read(ref fsxOps[0]);
        // Every writer went on through the rebalance, and a while after.
        Task[] all = [.. appenders, fsx, .. reopening];
        await Proc.Until(() => counts.Zip(during).All(p => p.First >= p.Second + 10) && Volatile.Read(ref fsxOps[0]) >= fsxDuring + 50 || all.Any(t => t.IsFaulted),
                         $"writers to go on after the rebalance (records then: {string.Join(',', during)})\n{r.Out}\n{r.Err}", 60);
        Assert.False(all.Any(t => t.IsFaulted), string.Join("\n", all.Where(t => t.IsFaulted).Select(t => t.Exception!.ToString())) + "\n" + r.Out + r.Err);
        stop.Cancel();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(r.Code == 0, $"{r.Out}\n{r.Err}");
        Assert.Matches(@"rebalance: [1-9]\d* moved, \d+ skipped, 0 failed\s*$", r.Out);
        using var last = JsonDocument.Parse(r.Out.Split('\n').Last(l => l.StartsWith('{')));
        var skipped = last.RootElement.GetProperty("skippedFiles").EnumerateArray()
            .ToDictionary(f => f.GetProperty("path").GetString()!, f => f.GetProperty("reason").GetString()!);
        // Held open for writing the whole time: each skipped as open for writing, and reported.
        foreach (var h in held)
        {
            Assert.Equal("open for writing", skipped.GetValueOrDefault("/d/" + h));
            Assert.Contains($"/d/{h}: skipped (open for writing)", r.Err);
        }
        Assert.All(skipped.Keys, p => Assert.Contains(p[3..], held.Concat(reopened)));

        // No byte lost.
        for (int w = 0; w < 3; w++)
            Assert.Equal(Workloads.Records(w, counts[w]), await File.ReadAllBytesAsync(Path.Combine(d, held[w])));
        for (int k = 0; k < reopened.Count; k++)
            Assert.Equal(Workloads.Records(10 + k, counts[3 + k]), await File.ReadAllBytesAsync(Path.Combine(d, reopened[k])));
        foreach (var (name, data) in still) Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(d, name)));
        Assert.Equal(still.Count + held.Count + reopened.Count, Directory.GetFiles(d).Length);
        Moves.AssertSettledOnBricks(m, "/d", 3, allowedElsewhere: [.. held, .. reopened]);
        Assert.Equal(0, m.TranslatorCounter("dht", "moveWaitsTimedOut"));
    }
}
