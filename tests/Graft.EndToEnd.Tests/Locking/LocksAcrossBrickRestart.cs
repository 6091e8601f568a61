using System.Diagnostics;
using Graft.Client;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// A brick killed with SIGKILL and restarted on the same directory and port knows no locks; the
/// mount remembers what it held and takes it back during the brick's lock grace, in which no other
/// owner can take it.
/// </summary>
public class LocksAcrossBrickRestart
{
    private const string Grace = "4";

    [Fact]
    public async Task Locks_held_through_kill_9_and_restart_are_taken_back_and_nobody_else_gets_them_in_the_grace()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var brick = await BrickProcess.ServeDirAsync(dir, 0, "--lock-grace", Grace);
        int port = brick.Port;
        try
        {
            // The kill is seen at once (the connection resets); the bounds only have to outlast a lock
            // request held by the grace on a loaded machine (a 5 s frame-timeout and a 2 s ping-timeout
            // once failed such a request with ENOTCONN in CI).
            var graph = NetClient.NewGraph(port, "b", new() { ["frame-timeout"] = "30", ["ping-timeout"] = "10" });
            await using var volume = await Volume.OpenAsync(graph);
            var client = (ProtocolClient)graph.Top;
            await using var ranged = await volume.OpenAsync("/db", FileMode.Create, FileAccess.ReadWrite);
            await using var flocked = await volume.OpenAsync("/db", FileMode.Open, FileAccess.ReadWrite);
            await using var other = await volume.OpenAsync("/db", FileMode.Open, FileAccess.ReadWrite);
            await using var waiter = await volume.OpenAsync("/db", FileMode.Open, FileAccess.ReadWrite);

            // Two ranges (0-39 and 60-99, by splitting 0-99) and a flock.
            Assert.True(await ranged.TryLockRangeAsync(0, 100, exclusive: true));
            await ranged.UnlockRangeAsync(40, 20);
            Assert.True(await flocked.TryLockFileAsync(exclusive: true));

            // A blocking request waiting when the brick dies keeps waiting (asked again once it is back).
            var wait = waiter.LockRangeAsync(0, 10, exclusive: true).AsTask();

            await brick.KillHardAsync();
            await NetClient.Until(() => !client.IsConnected, "the client noticed the kill");
            // Started before the brick: its grace begins somewhere between here and "listening".
            var restarted = Stopwatch.StartNew();
            brick = await BrickProcess.ServeDirAsync(dir, port, "--lock-grace", Grace);
            await NetClient.Until(() => volume.GetState().Counters.LocksReclaimed >= 3, "three locks taken back", 30000);

            // Another owner during the grace: held until the grace ends, then refused (the lock
            // was taken back); the never-held middle is granted; the flock stays taken.
            Assert.False(await other.TryLockRangeAsync(0, 1, exclusive: false));
            Assert.True(restarted.Elapsed >= TimeSpan.FromSeconds(double.Parse(Grace)) - TimeSpan.FromMilliseconds(100),
                $"a lock request was answered {restarted.Elapsed.TotalSeconds:0.0} s after the restart, inside the {Grace} s grace");
            Assert.False(await other.TryLockRangeAsync(99, 1, exclusive: false));
            Assert.True(await other.TryLockRangeAsync(45, 10, exclusive: true));
            Assert.False(await other.TryLockFileAsync(exclusive: false));
            Assert.Equal(0, volume.GetState().Counters.LocksLost);

            Assert.False(wait.IsCompleted, "the waiter got the lock while it was held");
            Assert.Equal(1, volume.GetState().Counters.LockWaitsResent);

            // And they are still the holder's to give up: then the waiter gets the range, once.
            await other.UnlockRangeAsync(45, 10);
            await ranged.UnlockRangeAsync(0, 0);
            await wait.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(await other.TryLockRangeAsync(0, 1, exclusive: false));
            await waiter.UnlockRangeAsync(0, 10);
            Assert.True(await other.TryLockRangeAsync(0, 1, exclusive: true));
            await flocked.UnlockFileAsync();
            Assert.True(await other.TryLockFileAsync(exclusive: true));
        }
        finally
        {
            await brick.DisposeAsync();
            try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }
}
