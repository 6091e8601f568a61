using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Switching;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// Two processes blocked in F_SETLKW on a real mount, one queued before the other, while the mount daemon
/// switches graphs and moves both waits itself (its own migration: the new fd, the re-bind, the re-sent
/// wait that joins its queued self). The first in line stays first: when the holder unlocks, the first
/// waiter gets the lock and the later one waits on, behind it.
/// </summary>
public class ABlockedSetlkwKeepsItsPlaceAcrossASwitch
{
    [MountFact]
    public async Task The_first_waiter_is_granted_before_a_later_one_after_the_switch()
    {
        await using var m = await SwitchingMount.UpAsync("lock-order");
        await using var holder = await LockProcess.StartAsync("holder");
        await using var first = await LockProcess.StartAsync("first");
        await using var later = await LockProcess.StartAsync("later");
        await using var probe = await LockProcess.StartAsync("probe");
        foreach (var p in new[] { holder, first, later, probe }) await p.ExpectAsync($"open f {m.P("db")} rwc", "ok");

        // The holder has bytes 0-9. The first waiter wants 0-19, the later one 0-29: both conflict with the
        // holder, and the later one also with the first. The ranges reach past each other so that the probe
        // can see each request queued on the brick (bytes 12 and 25 are held by nobody).
        await holder.ExpectAsync("fcntl f setlk w 0 10", "ok");
        var firstGranted = first.BeginAsync("fcntl f setlkw w 0 20");
        await probe.WaitUntilWriterQueuedAsync("f", 12, 1);
        var laterGranted = later.BeginAsync("fcntl f setlkw w 0 30");
        await probe.WaitUntilWriterQueuedAsync("f", 25, 1);

        await m.ToggleAsync();
        await Proc.Until(() => m.Counter("lockWaitsMoved") >= 2, "both waits moved by the mount", seconds: 30);
        await m.OneGraphAliveAsync(); // every fd (the holder's too) is on the new graph; the old one is gone
        Assert.Equal(2, m.Counter("lockWaitsMoved"));
        Assert.True(m.Counter("locksRebound") >= 1, "the holder's lock was not re-bound");
        Assert.Equal(0, m.Counter("locksLost"));
        Assert.False(firstGranted.IsCompleted, $"the first F_SETLKW returned at the switch: {(firstGranted.IsCompleted ? firstGranted.Result : "")}");
        Assert.False(laterGranted.IsCompleted, $"the later F_SETLKW returned at the switch: {(laterGranted.IsCompleted ? laterGranted.Result : "")}");
        await probe.ExpectAsync("fcntl f setlk r 12 1", "err EAGAIN"); // both still queued
        await probe.ExpectAsync("fcntl f setlk r 25 1", "err EAGAIN");

        await holder.ExpectAsync("fcntl f setlk u 0 0", "ok");
        Assert.Equal("ok", await firstGranted.WaitAsync(TimeSpan.FromSeconds(30)));
        // The first waiter holds 0-19, which the later one (0-29) conflicts with: it cannot have been granted.
        await probe.ExpectAsync("fcntl f getlk r 0 1", $"lock w 0 20 {first.Pid}");
        Assert.False(laterGranted.IsCompleted, $"the later F_SETLKW was granted beside the first: {(laterGranted.IsCompleted ? laterGranted.Result : "")}");

        await first.ExpectAsync("fcntl f setlk u 0 0", "ok");
        Assert.Equal("ok", await laterGranted.WaitAsync(TimeSpan.FromSeconds(30)));
        await probe.ExpectAsync("fcntl f getlk r 0 1", $"lock w 0 30 {later.Pid}");
    }
}
