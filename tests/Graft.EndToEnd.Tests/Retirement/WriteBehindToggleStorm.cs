using Graft.Core;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// Sixteen O_APPEND writers keep writing through a brick process while write-behind is inserted
/// and removed 200 times (each a new graph with its own connection): no call fails, every record
/// is intact and in order, and afterwards only one graph is alive.
/// </summary>
public class WriteBehindToggledUnderAppenders(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Writers = 16, Toggles = 200;

    [Fact]
    public async Task Sixteen_appenders_across_200_write_behind_toggles_lose_nothing()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: false);
        using var stop = new CancellationTokenSource();
        var errors = new List<string>();
        var counts = new int[Writers];
        long written = 0;

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            await using var s = await t.Volume.OpenAsync($"/w{w}", OpenFlags.O_CREAT | OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
            var rec = new byte[Records.Size];
            int seq = 0;
            while (!stop.IsCancellationRequested || seq < 20)
            {
                Records.Make(rec, w, seq);
                try
                {
                    await s.WriteAsync(rec);
                    if (seq % 7 == 6) await s.FsyncAsync();
                    Interlocked.Increment(ref written);
                }
                catch (Exception e) { lock (errors) errors.Add($"writer {w} record {seq}: {e.Message}"); return; }
                seq++;
            }
            counts[w] = seq;
        })).ToArray();

        bool wb = false;
        for (int i = 0; i < Toggles; i++)
        {
            // Writers as a whole make progress between two switches, so every graph carries writes.
            var before = Interlocked.Read(ref written);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Interlocked.Read(ref written) < before + Writers && DateTime.UtcNow < deadline) await Task.Delay(1);
            wb = !wb;
            await t.ApplyAsync(wb);
        }
        stop.Cancel();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Empty(errors);
        for (int w = 0; w < Writers; w++)
        {
            var data = await t.Volume.ReadAllBytesAsync($"/w{w}");
            Assert.Equal(counts[w] * Records.Size, data.Length);
            for (int seq = 0; seq < counts[w]; seq++)
            {
                var bad = Records.Check(data.AsSpan(seq * Records.Size, Records.Size), w, seq);
                Assert.True(bad is null, $"/w{w} record {seq}: {bad}");
            }
        }
        var st = t.State;
        output.WriteLine($"records {counts.Sum()}, fd migrations {st.Counters.FdMigrations}, destroyed so far {st.Counters.GraphsDestroyed}");
        Assert.Equal(Toggles, st.Counters.Switches);
        Assert.Equal(0, st.Counters.FdMigrationFailures);
        Assert.True(counts.Sum() >= Toggles * Writers, $"only {counts.Sum()} records were written");
        await t.WaitOneGraphAsync(TimeSpan.FromSeconds(60));
        Assert.Single(t.Volume.Session.Graphs);
        Assert.Equal(Toggles, t.State.Counters.GraphsDestroyed);
        Assert.Equal(0, t.State.Counters.RetirementsForced);
    }
}
