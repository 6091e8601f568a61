using System.Diagnostics;
using Graft.Client;
using Graft.Core;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// A blocking lock request whose brick dies and does not come back fails with ENOTCONN once the mount's
/// lock_wait_reconnect_timeout has passed — the option, set through the library's VolumeOptions.Mount
/// from the same -o text a FUSE mount takes, not the 60 s default.
/// </summary>
public class ALockWaitWhoseBrickStaysAwayFailsAtItsBound
{
    [Fact]
    public async Task A_waiting_lock_fails_with_enotconn_after_lock_wait_reconnect_timeout()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var brick = await BrickProcess.ServeDirAsync(dir);
        try
        {
            var graph = NetClient.NewGraph(brick.Port, "b");
            var options = new VolumeOptions { Mount = MountOptions.Parse("lock_wait_reconnect_timeout=2,lock_retry_delay=0.05") };
            Assert.Equal(TimeSpan.FromSeconds(2), options.Mount.LockWaitReconnectTimeout);
            await using var volume = await Volume.OpenAsync(graph, options);
            Assert.Equal(TimeSpan.FromSeconds(2), volume.Session.Options.LockWaitReconnectTimeout);
            var client = (ProtocolClient)graph.Top;
            var holder = await volume.OpenAsync("/db", FileMode.Create, FileAccess.ReadWrite);
            var waiter = await volume.OpenAsync("/db", FileMode.Open, FileAccess.ReadWrite);
            Assert.True(await holder.TryLockRangeAsync(0, 10, exclusive: true));
            var wait = waiter.LockRangeAsync(0, 10, exclusive: true).AsTask();

            var killed = Stopwatch.StartNew();
            await brick.KillHardAsync();
            var e = await Assert.ThrowsAsync<GraftIOException>(() => wait.WaitAsync(TimeSpan.FromSeconds(45)));
            Assert.Equal(Errno.ENOTCONN, e.Errno);
            // The bound runs from the failed call, which is after the kill: never sooner than 2 s; and far
            // sooner than the 60 s default (the slack is for a loaded machine).
            Assert.InRange(killed.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
            Assert.False(client.IsConnected);
            // Closing a file whose brick is gone says so too (its flush cannot reach the brick).
            foreach (var f in new[] { holder, waiter })
                Assert.Equal(Errno.ENOTCONN, (await Assert.ThrowsAsync<GraftIOException>(async () => await f.DisposeAsync())).Errno);
        }
        finally
        {
            await brick.DisposeAsync();
            try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }
}
