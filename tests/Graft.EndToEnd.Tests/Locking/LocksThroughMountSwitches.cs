using System.Diagnostics;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Switching;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// fcntl and flock locks of real processes on a real mount while the mount daemon switches
/// graphs under them: a held lock is never free for a moment, a blocked F_SETLKW keeps waiting
/// and is granted once, and one process's fds on two graphs are one owner.
/// </summary>
public class LocksThroughMountSwitches(Xunit.Abstractions.ITestOutputHelper output)
{
    [MountTheory]
    [InlineData("fcntl")]
    [InlineData("flock")]
    public async Task A_held_lock_refuses_every_probe_through_50_switches_and_is_free_once_unlocked(string kind)
    {
        await using var m = await SwitchingMount.UpAsync("lock-probe-" + kind);
        await using var a = await LockProcess.StartAsync("A");
        await using var b = await LockProcess.StartAsync("B");
        var (take, probe, unlock) = kind == "fcntl"
            ? ("fcntl f setlk w 0 0", "fcntl f setlk r 0 1", "fcntl f setlk u 0 0")
            : ("flock f ex nb", "flock f sh nb", "flock f un");
        await a.ExpectAsync($"open f {m.P("db")} rwc", "ok");
        await b.ExpectAsync($"open f {m.P("db")} rw", "ok");
        await a.ExpectAsync(take, "ok");
        await b.ExpectAsync(probe, "err EAGAIN");
        for (int i = 1; i <= 50; i++)
        {
            await m.ToggleAsync();
            await b.ExpectAsync(probe, "err EAGAIN", seconds: 30);
        }
        Assert.True(m.Counter("locksRebound") > 0, "no lock was re-bound: the holder's file never moved");
        Assert.Equal(0, m.Counter("locksLost"));
        await a.ExpectAsync(unlock, "ok");
        await b.ExpectAsync(probe, "ok");
        output.WriteLine($"{kind}: {m.Counter("locksRebound")} lock(s) re-bound over 50 switches");
    }

    [MountFact]
    public async Task A_blocked_setlkw_waits_through_20_switches_and_is_granted_once_when_the_holder_unlocks()
    {
        await using var m = await SwitchingMount.UpAsync("lock-wait");
        await using var a = await LockProcess.StartAsync("A");
        await using var b = await LockProcess.StartAsync("B");
        await using var c = await LockProcess.StartAsync("C");
        foreach (var p in new[] { a, b, c }) await p.ExpectAsync($"open f {m.P("db")} rwc", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 0", "ok");

        var granted = b.BeginAsync("fcntl f setlkw w 0 0");
        for (int i = 1; i <= 20; i++)
        {
            await m.ToggleAsync();
            await Proc.Until(() => m.Counter("lockWaitsMoved") >= i, $"B's wait moved {i} times", seconds: 30);
            Assert.False(granted.IsCompleted, $"B's F_SETLKW returned at switch {i}: {(granted.IsCompleted ? granted.Result : "")}");
            await c.ExpectAsync("fcntl f setlk r 0 1", "err EAGAIN");
        }
        Assert.Equal(20, m.Counter("lockWaitsMoved"));
        await m.OneGraphAliveAsync(); // the waiting request does not keep old graphs alive

        await a.ExpectAsync("fcntl f setlk u 0 0", "ok");
        Assert.Equal("ok", await granted.WaitAsync(TimeSpan.FromSeconds(30)));
        // B holds it, once: C sees B (not A) as the holder, and the lock is free after B's one unlock.
        await c.ExpectAsync("fcntl f getlk r 0 1", $"lock w 0 0 {b.Pid}");
        await b.ExpectAsync("fcntl f setlk u 0 0", "ok");
        await c.ExpectAsync("fcntl f getlk w 0 0", "unlocked");
        await c.ExpectAsync("fcntl f setlk w 0 0", "ok");
    }

    [MountFact]
    public async Task One_process_with_fds_on_two_graphs_takes_and_releases_locks_through_both_without_conflict()
    {
        // No background sweep: the idle fd must stay on the old graph while the other one moves. The sweep never
        // waits past retirement_timeout (then the old graph is torn down, idle fd and its lock with it), so that is as long.
        await using var m = new SwitchingMount(await MountedVolume.UpAsync("lock-two-graphs", "sweep_delay=3600", "retirement_timeout=3600"));
        await using var a = await LockProcess.StartAsync("A");
        await using var b = await LockProcess.StartAsync("B");
        await a.ExpectAsync($"open old {m.P("db")} rwc", "ok");
        await a.ExpectAsync($"open new {m.P("db")} rw", "ok");
        await b.ExpectAsync($"open f {m.P("db")} rw", "ok");
        await a.ExpectAsync("fcntl old setlk w 0 10", "ok");

        var gen = await m.ToggleAsync();
        await a.ExpectAsync("fcntl new setlk w 5 10", "ok");   // overlaps the lock held through the old graph's fd
        var files = m.State().GetProperty("openFiles");
        Assert.True(files.EnumerateObject().Count() >= 2, $"A's fds are not on two graphs: {files}");
        Assert.True(files.TryGetProperty(gen.ToString(), out _), $"nothing open on the new graph {gen}: {files}");
        await b.ExpectAsync("fcntl f setlk r 0 1", "err EAGAIN");
        await b.ExpectAsync("fcntl f setlk r 14 1", "err EAGAIN");

        // Released through the old graph's fd (which moves now), for the whole range the owner holds.
        await a.ExpectAsync("fcntl old setlk u 0 0", "ok");
        await b.ExpectAsync("fcntl f setlk r 0 20", "ok");
        await b.ExpectAsync("fcntl f setlk u 0 0", "ok");
        // And taken again through both, then released by closing one of them (close of any fd).
        await a.ExpectAsync("fcntl old setlk r 0 5", "ok");
        await a.ExpectAsync("fcntl new setlk r 5 5", "ok");
        await b.ExpectAsync("fcntl f setlk w 0 1", "err EAGAIN");
        await a.ExpectAsync("close new", "ok");
        await b.ExpectAsync("fcntl f setlk w 0 10", "ok");
    }

    [MountTheory]
    [InlineData("debug/faults")]
    [InlineData("performance/write-behind")] // the holder's acknowledged write must land before its unlock lets the next one in
    public async Task Processes_counting_under_a_lock_lose_no_increment_while_the_graph_switches_under_them(string layer)
    {
        const int processes = 4, times = 400;
        await using var m = await SwitchingMount.UpAsync("lock-count");
        var counter = m.P("counter");
        File.WriteAllText(counter, "");
        int switches = 0;
        await CountAsync(Enumerable.Repeat(counter, processes), times, async () => { await m.ToggleAsync(layer); switches++; });
        Assert.Equal(processes * times, long.Parse(File.ReadAllText(counter).Trim()));
        Assert.True(switches >= 3, $"only {switches} switches happened while counting");
        Assert.Equal(0, m.Counter("locksLost"));
        output.WriteLine($"{layer}: {processes * times} increments under the lock across {switches} switches; {m.Counter("lockWaitsMoved")} waits moved, {m.Counter("locksRebound")} locks re-bound");
    }

    [MountFact]
    public async Task Processes_on_two_mounts_counting_under_a_lock_lose_no_increment()
    {
        const int perMount = 2, times = 300;
        await using var v = await MountedVolume.UpAsync("lock-count-2");
        // The second mount caches attributes and entries for a minute: what it reads after each grant
        // comes from the brick only because the grant dropped its cache.
        await using var m2 = await SecondMount.StartAsync(v, "mnt2", "attr_timeout=60,entry_timeout=60");
        File.WriteAllText(v.P("counter"), "");
        var paths = Enumerable.Repeat(v.P("counter"), perMount).Concat(Enumerable.Repeat(m2.P("counter"), perMount));
        await CountAsync(paths, times, () => Task.Delay(50));
        Assert.Equal(2 * perMount * times, long.Parse(File.ReadAllText(m2.P("counter")).Trim()));
    }

    /// <summary>
    /// Runs one `count` process (Graft.TestTools) per path, all at once, calling <paramref name="meanwhile"/>
    /// in a loop until they have all finished (bounded), and checks each counted what it was told.
    /// </summary>
    private static async Task CountAsync(IEnumerable<string> paths, int times, Func<Task> meanwhile)
    {
        var counters = new List<Process>();
        try
        {
            foreach (var path in paths)
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in new[] { LockProcess.Tool, "count", path, times.ToString() }) psi.ArgumentList.Add(a);
                counters.Add(Process.Start(psi)!);
            }
            foreach (var p in counters) Assert.Equal("ready", await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)));
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (counters.Any(p => !p.HasExited))
            {
                Assert.True(DateTime.UtcNow < deadline, "the counting processes did not finish in 3 minutes");
                await meanwhile();
            }
            foreach (var p in counters)
            {
                var err = await p.StandardError.ReadToEndAsync();
                Assert.True(p.ExitCode == 0, $"a counter failed: {err}");
                Assert.Equal($"counted {times}", (await p.StandardOutput.ReadToEndAsync()).Trim());
            }
        }
        finally
        {
            foreach (var p in counters) { try { p.Kill(); } catch (InvalidOperationException) { } p.Dispose(); }
        }
    }
}
