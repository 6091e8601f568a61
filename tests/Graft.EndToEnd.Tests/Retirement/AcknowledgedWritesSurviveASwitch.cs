using Graft.Client;
using Graft.Core;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// What write-behind acknowledged on the old graph is on the brick for whoever looks after the
/// switch: through a new stream (on the new graph), and for a file closed right before it.
/// </summary>
public class AcknowledgedWritesSurviveASwitch
{
    // Background writes are slowed below write-behind, so the bytes are really held when the switch comes.
    private const string SlowWrites = "    option delay writev\n    option delay-duration 300ms\n";
    private const int Count = 40;

    private static byte[] Data(int n)
    {
        var b = new byte[n * Records.Size];
        for (int i = 0; i < n; i++) Records.Make(b.AsSpan(i * Records.Size, Records.Size), 7, i);
        return b;
    }

    [Fact]
    public async Task Writes_held_by_write_behind_are_read_through_a_new_stream_after_the_switch()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: true, faults: SlowWrites);
        var data = Data(Count);
        var s = await t.Volume.OpenAsync("/held", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
        try
        {
            for (int i = 0; i < Count; i++) await s.WriteAsync(data.AsMemory(i * Records.Size, Records.Size));
            var old = t.State.Graphs.Single(g => g.State == "active");
            Assert.True(old.WriteBehindBytes > 0, "write-behind held nothing: the test would prove nothing");

            await t.ApplyAsync(writeBehind: false);

            await using var fresh = await t.Volume.OpenAsync("/held", OpenFlags.O_RDONLY);
            var got = new byte[data.Length + 1];
            int n = 0, r;
            while ((r = await fresh.ReadAsync(got.AsMemory(n))) > 0) n += r;
            Assert.Equal(data.Length, n);
            Assert.Equal(data, got.AsSpan(0, n).ToArray());
            Assert.Equal(data.Length, (await t.Volume.StatAsync("/held")).Size);
        }
        finally { await s.DisposeAsync(); }
        await t.WaitOneGraphAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_directory_listing_on_the_new_graph_reports_sizes_with_the_held_writes()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: true, faults: SlowWrites);
        var data = Data(Count);
        var s = await t.Volume.OpenAsync("/listed", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
        try
        {
            for (int i = 0; i < Count; i++) await s.WriteAsync(data.AsMemory(i * Records.Size, Records.Size));
            Assert.True(t.State.Graphs.Single(g => g.State == "active").WriteBehindBytes > 0, "write-behind held nothing");

            await t.ApplyAsync(writeBehind: false);

            var entries = await t.Volume.ListDirectoryAsync("/"); // readdirp on the new graph
            var listed = entries.Single(e => e.Name == "listed");
            Assert.Equal(data.Length, listed.Iatt!.Value.Size);
        }
        finally { await s.DisposeAsync(); }
    }

    [Fact]
    public async Task A_file_closed_right_before_the_switch_loses_nothing()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: true, faults: SlowWrites);
        var data = Data(Count);
        await using (var s = await t.Volume.OpenAsync("/closed", OpenFlags.O_CREAT | OpenFlags.O_WRONLY))
        {
            for (int i = 0; i < Count; i++) await s.WriteAsync(data.AsMemory(i * Records.Size, Records.Size));
            Assert.True(t.State.Graphs.Single(g => g.State == "active").WriteBehindBytes > 0);
        } // close: FLUSH waits for write-behind
        Assert.Equal(0, t.State.Graphs.Single(g => g.State == "active").WriteBehindBytes);
        await t.ApplyAsync(writeBehind: false);

        Assert.Equal(data, await t.Volume.ReadAllBytesAsync("/closed"));
        // And on the brick's own disk, not just through some cache.
        var onDisk = await File.ReadAllBytesAsync(Path.Combine(t.BrickDir, "closed"));
        Assert.Equal(data, onDisk);
        await t.WaitOneGraphAsync(TimeSpan.FromSeconds(30));
    }
}

/// <summary>
/// A write write-behind acknowledged on the old graph and then failed to write is never lost
/// silently across a switch: the stream moves to the new graph at its next call (which succeeds:
/// only fsync and close report write-back errors), and carries the error there — its next fsync
/// reports it once, Flush() says so until then, and close reports it.
/// </summary>
public class FailedBackgroundWriteIsReportedAcrossASwitch
{
    [Fact]
    public async Task The_next_fsync_and_close_on_the_new_graph_report_it()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: true,
            faults: "    option fail writev\n    option fail-count 1\n    option fail-errno ENOSPC\n");
        var s = await t.Volume.OpenAsync("/lost", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
        try
        {
            await s.WriteAsync(new byte[Records.Size]); // acknowledged by write-behind, then fails below it
            await NetClientWait.Until(() => t.State.Graphs.Single(g => g.State == "active").WriteBehindBytes == 0, "the background write ran");
            var oldGen = t.Volume.Session.ActiveGraph.Generation;
            await t.ApplyAsync(writeBehind: false);

            await s.WriteAsync(new byte[Records.Size]); // moves the stream; writes report nothing
            Assert.NotEqual(oldGen, s.Handle.Fd.Graph!.Generation);
            Assert.Equal(Errno.ENOSPC, Assert.Throws<GraftIOException>(() => s.Flush()).Errno);
            Assert.Equal(Errno.ENOSPC, (await Assert.ThrowsAsync<GraftIOException>(async () => await s.FsyncAsync())).Errno);
            await s.FsyncAsync(); // reported once
            s.Flush();
        }
        finally
        {
            var close = await Assert.ThrowsAsync<GraftIOException>(async () => await s.DisposeAsync());
            Assert.Equal(Errno.ENOSPC, close.Errno);
        }
        Assert.Equal(0, t.State.Counters.FdMigrationFailures);
        Assert.Equal(2, t.State.Counters.WriteBackErrorsReported);
    }
}
