using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Performance.WriteBehind;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Several writes in flight at once (write-behind with writes-in-flight above replicate) go to the
/// copies together and share one write window (one pre-op); a copy that fails them while they are in
/// flight is left out of the window's later writes and blamed at its post-op by the copies that made
/// them all, and the writer hears no error.
/// </summary>
public class WritesInFlightTogetherShareTheWindow
{
    private const int Chunk = 64 * 1024;

    private static byte[] Data(int n)
    {
        var b = new byte[n * Chunk];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(i / 4096 + i);
        return b;
    }

    [Fact]
    public async Task A_copy_holding_four_writes_at_once_then_failing_them_is_blamed_and_the_writer_goes_on()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 30s; read-policy first-up",
            writeBehind: "writes-in-flight 4; cache-size 1MB; aggregate-size 64KB");
        var data = Data(9);
        var wb = v.Volume.Session.ActiveGraph.Translators.OfType<WriteBehindTranslator>().Single();
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Create))
        {
            await s.WriteAsync(data.AsMemory(0, Chunk));
            await Wait.Until(() => wb.BytesHeld == 0 && v.Afr.PreOps == 1, "the first write to open the window and land");

            await v.FaultAsync(1, "drop writev; drop-count 4"); // b1 holds its next four writes
            for (int i = 1; i <= 4; i++) await s.WriteAsync(data.AsMemory(i * Chunk, Chunk));
            await Wait.Until(() => v.Faults(1).HeldCount == 4, "b1 to hold four writes at once");
            Assert.Equal(3, wb.WritesBesideOthers);
            v.Faults(1).ReleaseHeld(); // answered ENOTCONN, as a connection cut would
            for (int i = 5; i < 9; i++) await s.WriteAsync(data.AsMemory(i * Chunk, Chunk));
            await s.FlushAsync(); // no error: two copies of three made every write
            Assert.Equal(1, v.Afr.PreOps); // every write joined the window the first one opened (post-op-delay 30s)
        }
        // The post-op: b0 and b2 made every write and blame b1; nobody blames them.
        foreach (var good in new[] { 0, 2 })
        {
            Assert.Equal(data, File.ReadAllBytes(v.On(good, "/f")));
            Assert.Equal(0, v.Counter(good, "/f", of: good));
            Assert.True(v.Counter(good, "/f", of: 1) > 0, $"b{good} does not blame b1");
            Assert.Equal(0, v.Counter(good, "/f", of: 2 - good));
        }
        Assert.NotEqual(data, File.ReadAllBytes(v.On(1, "/f")));
        Assert.Equal(data, await v.Volume.ReadAllBytesAsync("/f"));
        var fresh = await v.OpenClientAsync(); // judged from the counters alone
        Assert.Equal(data, await fresh.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task Writes_that_come_while_the_window_opens_join_it_rather_than_wait_for_it_to_close()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 30s",
            writeBehind: "writes-in-flight 4; cache-size 1MB; aggregate-size 64KB");
        var data = Data(4);
        var wb = v.Volume.Session.ActiveGraph.Translators.OfType<WriteBehindTranslator>().Single();
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Create))
        {
            await v.FaultAsync(0, "delay *; delay-duration 1s"); // the window's lock and pre-op take a second on b0
            for (int i = 0; i < 4; i++) await s.WriteAsync(data.AsMemory(i * Chunk, Chunk)); // all four go in flight at once
            // Waiting on the file's mutex instead, three of them would wait for the window to close: 30 s.
            await Wait.Until(() => wb.BytesHeld == 0, "the four writes to land");
            Assert.Equal(1, v.Afr.PreOps);
            Assert.Equal(3, wb.WritesBesideOthers);
            await v.FaultAsync(0, "");
        }
        Assert.True(v.Clean("/f"));
        for (int c = 0; c < 3; c++) Assert.Equal(data, File.ReadAllBytes(v.On(c, "/f")));
    }
}
