using System.Diagnostics;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// One `graft up` volume (a brick process, protocol/client over loopback) mounted twice: on mnt by `graft up`
/// with the default options, and on mnt2 by a second `graft mount` daemon of the same volfile with attribute
/// and entry caches of 60 s — so whatever the second mount reads after a lock grant comes from the volume only
/// because the grant dropped its caches, not because they ran out. Nothing starts when the tests are skipped.
/// </summary>
public sealed class TwoMountsFixture : IAsyncLifetime
{
    MountedVolume? _v;
    SecondMount? _m2;

    internal MountedVolume V => _v ?? throw new InvalidOperationException("no volume (tests skipped?)");
    internal string Mnt2 => _m2?.Path ?? throw new InvalidOperationException("no second mount (tests skipped?)");

    /// <summary>A new empty file in a fresh directory: its path on the first mount and on the second. Created with
    /// plain open/close: .NET's FileStream takes a flock of its own, released only when RELEASE reaches the volume.</summary>
    internal (string M1, string M2) NewFile(string name)
    {
        var dir = name + "-" + Guid.NewGuid().ToString("N")[..6];
        Directory.CreateDirectory(V.P(dir));
        var m1 = V.P(dir, "f");
        int fd = Sys.open(m1, Sys.O_RDWR | Sys.O_CREAT | Sys.O_EXCL, 438);
        Assert.True(fd >= 0, $"create {m1}: errno {Sys.Errno}");
        Sys.close(fd);
        return (m1, Path.Combine(Mnt2, dir, "f"));
    }

    public async Task InitializeAsync()
    {
        if (new MountFactAttribute().Skip is not null) return;
        _v = await MountedVolume.UpAsync("locks");
        try { _m2 = await SecondMount.StartAsync(_v, "mnt2", "attr_timeout=60,entry_timeout=60"); }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_m2 is not null) await _m2.DisposeAsync();
        if (_v is not null) await _v.DisposeAsync();
    }
}

/// <summary>
/// POSIX (fcntl), OFD and flock locks through real mounts, taken by real processes (Graft.TestTools `lock`):
/// the kernel sends GETLK/SETLK/SETLKW with its lock owners, the mount daemon passes them to the brick's
/// features/locks. Every wait is bounded; a blocked request is known to be queued on the brick when a probe's
/// read lock on its range is refused although only readers hold it (the brick's queue is fair: a reader does
/// not overtake a waiting writer).
/// </summary>
public class LocksThroughAMount(TwoMountsFixture fx) : IClassFixture<TwoMountsFixture>
{
    static Task<LockProcess> Start(string name) => LockProcess.StartAsync(name);

    /// <summary>Retries a non-blocking command until it answers <paramref name="expected"/> (bounded): for what
    /// happens after close(2) returns — the kernel sends RELEASE in the background.</summary>
    static async Task EventuallyAsync(LockProcess p, string command, string expected, double seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        string answer;
        while ((answer = await p.SendAsync(command)) != expected)
        {
            Assert.True(sw.Elapsed.TotalSeconds < seconds, $"'{command}' still answers '{answer}' after {seconds}s (expected '{expected}')");
            await Task.Delay(20);
        }
    }

    [MountFact]
    public async Task Conflicting_ranges_get_EAGAIN_and_the_others_are_granted()
    {
        var (f, _) = fx.NewFile("ranges");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk w 10 10", "ok");         // 10..19
        await b.ExpectAsync("fcntl f setlk w 0 10", "ok");          // 0..9: touches, does not overlap
        await b.ExpectAsync("fcntl f setlk w 20 5", "ok");          // 20..24
        await b.ExpectAsync("fcntl f setlk w 15 10", "err EAGAIN"); // overlaps 15..19
        await b.ExpectAsync("fcntl f setlk r 19 1", "err EAGAIN");  // a read lock conflicts with a write lock
        await a.ExpectAsync("fcntl f setlk r 100 0", "ok");         // 100..EOF, shared
        await b.ExpectAsync("fcntl f setlk r 1000 10", "ok");
        await b.ExpectAsync("fcntl f setlk w 5000 1", "err EAGAIN");
        await a.ExpectAsync("fcntl f setlk w 22 1", "err EAGAIN");  // and the other way round
    }

    [MountFact]
    public async Task Unlocking_the_middle_of_a_lock_splits_it_in_two()
    {
        var (f, _) = fx.NewFile("split");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 30", "ok");
        await a.ExpectAsync("fcntl f setlk u 10 10", "ok");
        await b.ExpectAsync("fcntl f setlk w 10 10", "ok");         // the middle is free
        await b.ExpectAsync("fcntl f setlk w 9 1", "err EAGAIN");   // both ends are still A's
        await b.ExpectAsync("fcntl f setlk w 20 1", "err EAGAIN");
        await b.ExpectAsync("fcntl f getlk w 0 0", $"lock w 0 10 {a.Pid}");
        await b.ExpectAsync("fcntl f getlk w 20 0", $"lock w 20 10 {a.Pid}");
    }

    [MountFact]
    public async Task A_read_lock_upgrades_to_a_write_lock_and_downgrades_back()
    {
        var (f, _) = fx.NewFile("upgrade");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk r 0 10", "ok");
        await b.ExpectAsync("fcntl f setlk r 0 10", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 10", "err EAGAIN");  // B reads: the upgrade is refused...
        await b.ExpectAsync("fcntl f setlk w 0 10", "err EAGAIN");  // ...and A kept its read lock
        await b.ExpectAsync("fcntl f setlk u 0 10", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 10", "ok");          // upgrade
        await b.ExpectAsync("fcntl f setlk r 0 10", "err EAGAIN");
        await b.ExpectAsync("fcntl f getlk r 0 10", $"lock w 0 10 {a.Pid}");
        await a.ExpectAsync("fcntl f setlk r 0 10", "ok");          // downgrade
        await b.ExpectAsync("fcntl f setlk r 0 10", "ok");
        await b.ExpectAsync("fcntl f getlk w 0 10", $"lock r 0 10 {a.Pid}");
    }

    [MountFact]
    public async Task F_GETLK_reports_the_holders_pid_type_start_and_length()
    {
        var (f, _) = fx.NewFile("getlk");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync("fcntl f getlk w 0 0", "unlocked");
        await a.ExpectAsync("fcntl f setlk w 100 50", "ok");
        await a.ExpectAsync("fcntl f setlk r 300 0", "ok");
        await b.ExpectAsync("fcntl f getlk r 0 0", $"lock w 100 50 {a.Pid}");
        await b.ExpectAsync("fcntl f getlk w 200 0", $"lock r 300 0 {a.Pid}"); // to end of file: length 0
        await b.ExpectAsync("fcntl f getlk r 300 10", "unlocked");              // readers share
        await b.ExpectAsync("fcntl f getlk w 150 150", "unlocked");
    }

    [MountFact]
    public async Task A_process_never_conflicts_with_its_own_locks_through_any_fd()
    {
        var (f, _) = fx.NewFile("self");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f1 {f} rw", "ok");
        await a.ExpectAsync($"open f2 {f} rw", "ok");
        await a.ExpectAsync("fcntl f1 setlk w 0 10", "ok");
        await a.ExpectAsync("fcntl f2 setlk w 0 10", "ok");   // the same owner through another open of the file
        await a.ExpectAsync("fcntl f2 setlk r 5 10", "ok");
        await a.ExpectAsync("fcntl f1 getlk w 0 0", "unlocked");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync("fcntl f getlk w 0 0", $"lock w 0 5 {a.Pid}");
        await b.ExpectAsync("fcntl f setlk r 5 10", "ok");    // A holds a read lock there now
    }

    [MountFact]
    public async Task Closing_any_fd_of_the_file_releases_the_processs_fcntl_locks()
    {
        var (f, _) = fx.NewFile("close");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f1 {f} rw", "ok");
        await a.ExpectAsync($"open f2 {f} r", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f1 setlk w 0 0", "ok");
        await b.ExpectAsync("fcntl f setlk w 0 1", "err EAGAIN");
        await a.ExpectAsync("close f2", "ok");                // not the fd the lock was taken through
        await b.ExpectAsync("fcntl f setlk w 0 0", "ok");     // close(2) waits for FLUSH: no retry needed
    }

    [MountFact]
    public async Task flock_and_fcntl_locks_do_not_conflict_either_way()
    {
        var (f1, _) = fx.NewFile("flock-first");
        var (f2, _) = fx.NewFile("fcntl-first");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await using var c = await Start("C");
        foreach (var p in new[] { a, b, c })
        {
            await p.ExpectAsync($"open x {f1} rw", "ok");
            await p.ExpectAsync($"open y {f2} rw", "ok");
        }
        await a.ExpectAsync("flock x ex nb", "ok");
        await b.ExpectAsync("fcntl x setlk w 0 0", "ok");     // a flock does not stop an fcntl lock
        await c.ExpectAsync("flock x ex nb", "err EAGAIN");   // (A's flock is real)
        await a.ExpectAsync("fcntl y setlk w 0 0", "ok");
        await b.ExpectAsync("flock y ex nb", "ok");           // an fcntl lock does not stop a flock
        await c.ExpectAsync("fcntl y setlk r 0 1", "err EAGAIN"); // (A's fcntl lock is real)
    }

    [MountFact]
    public async Task flock_shares_excludes_and_converts()
    {
        var (f, _) = fx.NewFile("flock");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await using var c = await Start("C");
        foreach (var p in new[] { a, b, c }) await p.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("flock f sh nb", "ok");
        await b.ExpectAsync("flock f sh nb", "ok");
        await c.ExpectAsync("flock f ex nb", "err EAGAIN");
        await b.ExpectAsync("flock f un", "ok");
        await a.ExpectAsync("flock f ex nb", "ok");           // shared → exclusive
        await b.ExpectAsync("flock f sh nb", "err EAGAIN");
        await a.ExpectAsync("flock f sh nb", "ok");           // exclusive → shared
        await b.ExpectAsync("flock f sh nb", "ok");
        await c.ExpectAsync("flock f ex nb", "err EAGAIN");
        await a.ExpectAsync("flock f un", "ok");
        await b.ExpectAsync("flock f un", "ok");
        await c.ExpectAsync("flock f ex nb", "ok");
    }

    [MountFact]
    public async Task OFD_locks_belong_to_the_open_file_and_go_when_it_is_closed()
    {
        var (f, _) = fx.NewFile("ofd");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await a.ExpectAsync($"open f1 {f} rw", "ok");
        await a.ExpectAsync($"open f2 {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f1 ofd-setlk w 0 10", "ok");
        await a.ExpectAsync("fcntl f2 ofd-setlk w 5 10", "err EAGAIN"); // another open file of the same process
        await a.ExpectAsync("fcntl f2 setlk w 5 1", "err EAGAIN");      // and the process's own fcntl locks
        await a.ExpectAsync("fcntl f1 ofd-setlk r 0 10", "ok");         // the open file changes its own lock
        await a.ExpectAsync("close f2", "ok");                          // a close of another fd leaves it
        await b.ExpectAsync("fcntl f setlk w 0 1", "err EAGAIN");
        await a.ExpectAsync("close f1", "ok");                          // the last close of its open file ends it
        await b.ExpectAsync("fcntl f setlkw w 0 10", "ok", seconds: 30); // (RELEASE follows close in the background)
    }

    [MountFact]
    public async Task A_two_process_deadlock_gets_EDEADLK()
    {
        var (f, _) = fx.NewFile("deadlock");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await using var probe = await Start("probe");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await probe.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 10", "ok");
        await b.ExpectAsync("fcntl f setlk r 10 10", "ok");
        var aWaits = a.BeginAsync("fcntl f setlkw w 10 10");  // A waits for B
        await probe.WaitUntilWriterQueuedAsync("f", 10, 10);
        await b.ExpectAsync("fcntl f setlkw w 0 10", "err EDEADLK"); // B would wait for A: refused
        Assert.False(aWaits.IsCompleted, $"A's wait ended: {(aWaits.IsCompleted ? aWaits.Result : "")}");
        await b.ExpectAsync("fcntl f setlk u 10 10", "ok");
        Assert.Equal("ok", await aWaits.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [MountFact]
    public async Task A_blocked_SETLKW_is_granted_when_the_holder_unlocks()
    {
        var (f, _) = fx.NewFile("setlkw");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await using var probe = await Start("probe");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await probe.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk r 0 10", "ok");
        var bWaits = b.BeginAsync("fcntl f setlkw w 0 10");
        await probe.WaitUntilWriterQueuedAsync("f", 0, 10);
        Assert.False(bWaits.IsCompleted, $"B's wait ended while A held its lock: {(bWaits.IsCompleted ? bWaits.Result : "")}");
        await a.ExpectAsync("fcntl f setlk u 0 10", "ok");
        Assert.Equal("ok", await bWaits.WaitAsync(TimeSpan.FromSeconds(30)));
        await probe.ExpectAsync("fcntl f getlk r 0 10", $"lock w 0 10 {b.Pid}");
    }

    [MountFact]
    public async Task Killing_a_blocked_waiter_takes_its_request_out_of_the_queue()
    {
        var (f, _) = fx.NewFile("kill-waiter");
        await using var a = await Start("A");
        await using var b = await Start("B");
        await using var c = await Start("C");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await c.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk r 0 10", "ok");
        _ = b.BeginAsync("fcntl f setlkw w 0 10");
        await c.WaitUntilWriterQueuedAsync("f", 0, 10);
        b.Kill(); // SIGKILL: the kernel INTERRUPTs the SETLKW and waits for its answer before the process can end
        Assert.True(await b.ExitedWithinAsync(30), "the killed waiter did not end: its SETLKW was never answered");
        // Only A's read lock is left: a reader is no longer held back by B's queued write.
        await EventuallyAsync(c, "fcntl f setlk r 0 10", "ok");
        await c.ExpectAsync("fcntl f setlk u 0 10", "ok");
        await a.ExpectAsync("fcntl f setlk u 0 10", "ok");
        await c.ExpectAsync("fcntl f setlk w 0 10", "ok");   // a third process gets the lock B waited for
    }

    [MountFact]
    public async Task Two_mounts_of_one_volume_exclude_each_other()
    {
        var (m1, m2) = fx.NewFile("two-mounts");
        await using var a = await Start("A on mount 1");
        await using var b = await Start("B on mount 2");
        await a.ExpectAsync($"open f {m1} rw", "ok");
        await b.ExpectAsync($"open f {m2} rw", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 100", "ok");
        await b.ExpectAsync("fcntl f setlk r 50 1", "err EAGAIN");
        await b.ExpectAsync("fcntl f getlk w 0 0", $"lock w 0 100 {a.Pid}");
        await b.ExpectAsync("fcntl f setlk w 100 0", "ok");
        await a.ExpectAsync("fcntl f setlk w 200 1", "err EAGAIN");
        await a.ExpectAsync("flock f ex nb", "ok");
        await b.ExpectAsync("flock f sh nb", "err EAGAIN");
        var bWaits = b.BeginAsync("fcntl f setlkw w 0 100");
        await a.ExpectAsync("fcntl f setlk u 0 100", "ok");
        Assert.Equal("ok", await bWaits.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [MountFact]
    public async Task After_a_lock_grant_the_second_mount_reads_what_the_holder_wrote_and_its_size()
    {
        var (m1, m2) = fx.NewFile("reads-after-grant");
        await using var a = await Start("A on mount 1");
        await using var b = await Start("B on mount 2");
        await a.ExpectAsync($"open f {m1} rw", "ok");
        await a.ExpectAsync("write f 0 old", "ok 3");
        // B reads first: mount 2 now caches the file's pages and its size (for 60 s).
        await b.ExpectAsync($"open f {m2} rw", "ok");
        await b.ExpectAsync("read f 0 100", "data old");
        await b.ExpectAsync("fstat f", "ok 3");

        await a.ExpectAsync("fcntl f setlkw w 0 0", "ok");
        await a.ExpectAsync("write f 0 new data from mount one", "ok 23");
        await a.ExpectAsync("fcntl f setlk u 0 0", "ok");

        await b.ExpectAsync("fcntl f setlkw w 0 0", "ok");
        await b.ExpectAsync("fstat f", "ok 23");
        await b.ExpectAsync("read f 0 100", "data new data from mount one");
    }
}
