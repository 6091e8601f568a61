using System.Diagnostics;
using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount.Control;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// The brick of a mounted volume is killed with SIGKILL while a process holds locks through one
/// mount, and restarted on the same directory and port: the mount takes its locks back during the
/// brick's lock grace, and a process on a second mount of the volume cannot take them in between.
/// </summary>
public class LocksThroughABrickRestart
{
    private const int GraceSeconds = 4;

    private static JsonElement State(string mnt)
    {
        using var doc = JsonDocument.Parse(ControlClient.Send(ControlClient.SocketPathFor(mnt), "state", TimeSpan.FromSeconds(5)));
        return doc.RootElement.Clone();
    }

    private static bool Up(string mnt) => State(mnt).GetProperty("graphs").EnumerateArray().All(g => g.GetProperty("childUp").GetBoolean());

    [MountFact]
    public async Task Locks_held_through_a_kill_9_of_the_brick_are_still_held_after_it_restarts_and_nobody_takes_them_in_the_grace()
    {
        await using var v = await MountedVolume.UpAsync("lock-restart");
        await using var second = await SecondMount.StartAsync(v, "mnt2");
        var mnt2 = second.Path;
        BrickProcess? restarted = null;
        try
        {
            await using var a = await LockProcess.StartAsync("A");
            await using var b = await LockProcess.StartAsync("B");
            await a.ExpectAsync($"open f {v.P("db")} rwc", "ok");
            await a.ExpectAsync($"open g {v.P("db")} rw", "ok");
            await a.ExpectAsync("fcntl f setlk w 0 10", "ok");
            await a.ExpectAsync("flock g ex nb", "ok");
            await b.ExpectAsync($"open f {Path.Combine(mnt2, "db")} rw", "ok");
            await b.ExpectAsync("fcntl f setlk r 0 1", "err EAGAIN");

            // kill -9 the brick `graft up` started, then start it again on the same directory and port.
            await v.KillBrickAsync();
            await Proc.Until(() => !Up(mnt2), "the second mount noticed", seconds: 30);
            // Started before the brick: its grace begins somewhere between here and "listening".
            var sinceStart = Stopwatch.StartNew();
            restarted = await v.RestartBrickAsync("--lock-grace", GraceSeconds.ToString());
            await Proc.Until(() => State(v.Mnt).GetProperty("counters").GetProperty("locksReclaimed").GetInt64() >= 2,
                "mount 1 took its two locks back", seconds: 30);
            await Proc.Until(() => Up(mnt2), "mount 2 reconnected", seconds: 30);

            // During the grace the second mount's request waits; then it is refused: the lock is A's again.
            await b.ExpectAsync("fcntl f setlk r 0 1", "err EAGAIN");
            Assert.True(sinceStart.Elapsed >= TimeSpan.FromSeconds(GraceSeconds) - TimeSpan.FromMilliseconds(100),
                $"B was answered {sinceStart.Elapsed.TotalSeconds:0.0} s after the restart, inside the {GraceSeconds} s grace");
            await b.ExpectAsync("flock f sh nb", "err EAGAIN");
            await b.ExpectAsync("fcntl f getlk r 0 1", $"lock w 0 10 {a.Pid}");
            Assert.Equal(0, State(v.Mnt).GetProperty("counters").GetProperty("locksLost").GetInt64());

            // Still A's to give up.
            await a.ExpectAsync("fcntl f setlk u 0 0", "ok");
            await b.ExpectAsync("fcntl f setlk w 0 10", "ok");
            await a.ExpectAsync("flock g un", "ok");
            await b.ExpectAsync("flock f ex nb", "ok");
        }
        finally
        {
            await second.DisposeAsync(); // while a brick still answers its goodbye
            if (restarted is not null) await restarted.DisposeAsync();
        }
    }
}
