using Graft.EndToEnd.Tests.Switching;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// `graft up`'s client graph has performance/write-behind on top, as the management daemon's volumes do:
/// a write(2) is acknowledged while the brick cannot answer (its process stopped), close waits until the
/// bytes are on the brick; `option enable off` in the volfile switches it off in place, and then a write
/// waits for the brick again.
/// </summary>
public class GraftUpWritesBehind
{
    [MountFact]
    public async Task A_write_is_acknowledged_while_the_brick_is_stopped_until_write_behind_is_switched_off()
    {
        await using var m = await SwitchingMount.UpAsync("up-wb");
        Assert.Contains("    type performance/write-behind\n", m.Original, StringComparison.Ordinal);
        int brick = m.Volume.BrickPid();
        var path = m.P("f");
        var block = new byte[4096];
        Array.Fill(block, (byte)'a');
        bool stopped = false;
        try
        {
            using (var f = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write))
            {
                RandomAccess.Write(f, block, 0); // the first write also settles the kernel's security.capability question
                stopped = true;
                await Sys.FreezeAsync(brick);
                // Acknowledged with the brick stopped: only write-behind can have answered it.
                await Task.Run(() => RandomAccess.Write(f, block, 4096)).WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(HeldBytes(m) > 0, "write-behind holds nothing");
                Assert.Equal(0, Sys.kill(brick, Sys.SIGCONT));
                stopped = false;
            } // close: waits for the held write
            Assert.Equal(8192, new FileInfo(Path.Combine(m.Volume.Brick, "f")).Length);
            Assert.Equal(0, HeldBytes(m));

            // Switched off in place (no new graph): the next write waits for the brick.
            long reconfigures = m.Counter("reconfigures");
            m.Write(m.Original.Replace("    type performance/write-behind\n", "    type performance/write-behind\n    option enable off\n", StringComparison.Ordinal));
            await Proc.Until(() => m.Counter("reconfigures") > reconfigures, "write-behind reconfigured off", seconds: 30);
            using (var f = File.OpenHandle(path, FileMode.Open, FileAccess.Write))
            {
                stopped = true;
                await Sys.FreezeAsync(brick);
                var write = Task.Run(() => RandomAccess.Write(f, block, 8192));
                // The state query is one more round trip through the mount daemon: time enough for an early acknowledgement.
                Assert.Equal(0, HeldBytes(m));
                Assert.False(write.IsCompleted, "a write was acknowledged with write-behind off and the brick stopped");
                Assert.Equal(0, Sys.kill(brick, Sys.SIGCONT));
                stopped = false;
                await write.WaitAsync(TimeSpan.FromSeconds(30));
            }
            Assert.Equal(12288, new FileInfo(Path.Combine(m.Volume.Brick, "f")).Length);
        }
        finally
        {
            if (stopped) Sys.kill(brick, Sys.SIGCONT);
        }
    }

    private static long HeldBytes(SwitchingMount m) =>
        m.State().GetProperty("graphs").EnumerateArray().Single(g => g.GetProperty("state").GetString() == "active")
            .GetProperty("writeBehindBytes").GetInt64();
}
