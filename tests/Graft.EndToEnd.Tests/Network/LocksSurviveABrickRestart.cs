using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Tests.Protocol;
using static Graft.Core.LockType;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// kill -9 of a brick process that holds locks, and a restart on the same directory: the brick
/// starts in its lock grace (its marker says locks were held), the holder's client reconnects into
/// a new session and hears CHILD_RESET, and reclaims its locks; another mount's request sent during
/// the grace waits for it to end and then finds the lock taken (EAGAIN). A brick that held nothing
/// when it died starts with no grace at all.
/// </summary>
public class LocksSurviveABrickRestart
{
    // Long enough for the holder's reconnect and reclaim on a loaded machine (4 s ran out at load 38); the test
    // waits for all of it once, when the other mount's request is answered at its end.
    private const int GraceSeconds = 10;

    [Fact]
    public async Task The_holder_reclaims_in_the_grace_and_another_mount_waits_for_its_end_then_gets_eagain()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var marker = Path.Combine(dir, ".graft", "lock-grace-marker");
        var brick = await BrickProcess.ServeDirAsync(dir, 0, "--lock-grace", GraceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        int port = brick.Port;
        try
        {
            var holder = await WireMount.ConnectAsync(port, "b", Guid.NewGuid());
            var other = await WireMount.ConnectAsync(port, "b", Guid.NewGuid());
            var reset = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            holder.Graph.TopEvent += ev => { if (ev == GraphEvent.ChildReset) reset.TrySetResult(); };
            var (fd, gfid) = await holder.CreateAsync("locked");
            var probe = await other.OpenAsync(gfid);
            var range = WireMount.Range(Write, 0, 100, 1, 101);
            var flock = WireMount.Flock(Write, 0xf1, 101);
            Assert.False(File.Exists(marker), "a brick that never held a lock has no marker");
            Assert.Equal(Errno.OK, await holder.SetLk(fd, range));
            Assert.Equal(Errno.OK, await holder.SetLk(fd, flock));
            Assert.True(File.Exists(marker), "the marker is on disk before the lock is answered");
            Assert.False((await other.Graph.Top.LookupAsync(other.Ctx(), Loc.Child(Gfid.Root, ".graft"))).Ok, "clients never see the marker's directory");

            await brick.KillHardAsync();
            // The grace begins between the start of the process and its "listening": a lower bound on
            // when it ends is measured from before the start.
            var spawned = Stopwatch.StartNew();
            brick = await BrickProcess.ServeDirAsync(dir, port, "--lock-grace", GraceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

            // The other mount is back first and asks for the range: held by the grace, not refused yet.
            await NetClient.Until(() => other.Client.Connects >= 2 && other.Client.IsConnected, "other mount reconnected");
            var stolen = other.SetLk(probe, WireMount.Range(Write, 0, 1, 9, 900));
            var stolenFlock = other.SetLk(probe, WireMount.Flock(Read, 9, 900));

            // The holder hears that the brick lost its session and takes its locks back.
            await reset.Task.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(1, holder.Client.Resets);
            Assert.Equal(Errno.OK, (await holder.Lk(fd, LockCmd.Reclaim, range)).Error);
            Assert.Equal(Errno.OK, (await holder.Lk(fd, LockCmd.Reclaim, flock)).Error);
            // Within the grace: after it a reclaim is a plain SETLK, and the other mount's request, answered at the
            // grace's end, would have taken the range first (the reclaims above would then be EAGAIN, and it OK).

            Assert.Equal(Errno.EAGAIN, await stolen.WaitAsync(TimeSpan.FromSeconds(GraceSeconds + 15)));
            Assert.Equal(Errno.EAGAIN, await stolenFlock.WaitAsync(TimeSpan.FromSeconds(15)));
            Assert.True(spawned.Elapsed >= TimeSpan.FromSeconds(GraceSeconds) - TimeSpan.FromMilliseconds(100), $"answered only once the grace was over ({spawned.Elapsed})");
            var seen = await other.Lk(probe, LockCmd.GetLk, WireMount.Range(Write, 0, 0, 9, 900));
            Assert.Equal((Write, 0L, 100L, 101), (seen.Value.Type, seen.Value.Start, seen.Value.Length, seen.Value.Pid));

            // Nothing locked any more: the marker goes (after its debounce), and the next crash
            // restarts with no grace even though lock-grace is long.
            Assert.Equal(Errno.OK, await holder.SetLk(fd, range with { Type = Unlock }));
            Assert.Equal(Errno.OK, await holder.SetLk(fd, flock with { Type = Unlock }));
            await NetClient.Until(() => !File.Exists(marker), "marker removed once nothing is locked");
            await brick.KillHardAsync();
            brick = await BrickProcess.ServeDirAsync(dir, port, "--lock-grace", "60");
            await NetClient.Until(() => other.Client.Connects >= 3 && other.Client.IsConnected, "other mount reconnected again");
            var quick = Stopwatch.StartNew();
            Assert.Equal(Errno.OK, await other.SetLk(probe, WireMount.Range(Write, 0, 1, 9, 900)));
            Assert.True(quick.Elapsed < TimeSpan.FromSeconds(20), $"no grace without the marker ({quick.Elapsed})");

            await holder.ReleaseAsync(fd);
            await other.ReleaseAsync(probe);
            await holder.StopAsync();
            await other.StopAsync();
        }
        finally
        {
            await brick.DisposeAsync();
            Directory.Delete(temp, true);
        }
    }
}
