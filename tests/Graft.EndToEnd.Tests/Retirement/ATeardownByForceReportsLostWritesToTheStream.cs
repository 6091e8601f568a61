using System.Diagnostics;
using Graft.Client;
using Graft.Core;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// Library front end over a brick process: write-behind holds a stream's acknowledged bytes (the
/// background write is dropped below it) when the volume switches graphs. The old graph cannot
/// drain; the background sweep gives up on the held stream at the retirement bound instead of
/// waiting for it, the graph is torn down by force, and the stream's next Fsync and its Dispose
/// throw EIO. Another stream whose bytes landed goes on without an error.
/// </summary>
public class ATeardownByForceReportsLostWritesToTheStream
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Fsync_and_dispose_throw_EIO_for_the_held_stream_only()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: true, Bound, faults: "    option drop writev\n    option drop-count 1\n");
        var held = await t.Volume.OpenAsync("/held", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
        var landed = await t.Volume.OpenAsync("/landed", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
        try
        {
            await held.WriteAsync(new byte[Records.Size]); // acknowledged; its background write is dropped
            await NetClientWait.Until(() => t.State.Graphs.Single(g => g.State == "active").WriteBehindBytes > 0, "write-behind holds it");
            await landed.WriteAsync(new byte[Records.Size]);
            await landed.FsyncAsync();

            var clock = Stopwatch.StartNew();
            await t.ApplyAsync(writeBehind: false);
            await t.WaitOneGraphAsync(Bound + TimeSpan.FromSeconds(20));
            Assert.True(clock.Elapsed >= Bound * 0.9, $"the old graph went after {clock.Elapsed}, before the bound");
            Assert.Equal(1, t.State.Counters.RetirementsForced);

            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await held.FsyncAsync())).Errno);
            await held.FsyncAsync(); // reported once
            await landed.FsyncAsync();
        }
        finally
        {
            // Bounded: if the old graph was never torn down, the held stream's flush would wait for ever.
            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await held.DisposeAsync().AsTask().WaitAsync(Bound * 15))).Errno);
            await landed.DisposeAsync().AsTask().WaitAsync(Bound * 15);
        }
        Assert.Equal(Records.Size, (await t.Volume.StatAsync("/landed")).Size);
    }
}
