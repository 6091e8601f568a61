using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// After a brick starts, for lock-grace, clients take back the locks they held (reclaim) and
/// nobody else can take anything: requests that could take or report a lock wait for the grace to
/// end, unlocks pass at once. The grace is ended here by reconfiguring lock-grace to 0 (it can
/// change at run time), so nothing depends on how fast the machine is.
/// </summary>
public class LockGraceTests
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 1001);
    private static readonly Proc B = new(LocksHarness.MountB, 2, 2002);

    private static Task<LocksHarness> InGraceAsync(Dictionary<string, string>? more = null)
    {
        var o = new Dictionary<string, string> { ["lock-grace"] = "600" };
        foreach (var (k, v) in more ?? []) o[k] = v;
        return LocksHarness.CreateAsync(o);
    }

    private static Errno EndGrace(LocksHarness h)
    {
        var spec = BuiltinXlators.CreateRegistry().Find("features/locks")!;
        return h.Locks.Reconfigure(new OptionValues(spec.Options, new Dictionary<string, string> { ["lock-grace"] = "0" }));
    }

    private static Task<Result<FileLock>> Reclaim(LocksHarness h, Proc p, Fd fd, FileLock lk) =>
        h.Locks.LkAsync(p.Ctx(), fd, LockCmd.Reclaim, lk).AsTask();

    [Fact]
    public async Task Without_a_marker_option_a_start_is_a_grace_in_which_reclaims_are_granted_and_other_requests_wait_for_its_end()
    {
        var h = await InGraceAsync();
        Assert.True(h.Locks.Counts.InGrace);
        Fd fa = h.Open(), fb = h.Open();

        var reclaim = await Reclaim(h, A, fa, LocksHarness.Range(A, Write, 0, 100));
        Assert.Equal(Errno.OK, reclaim.Error);
        Assert.Equal(Errno.OK, (await Reclaim(h, A, fa, LocksHarness.FlockOf(A, Read))).Error);

        var setlk = h.Locks.LkAsync(B.Ctx(), fb, LockCmd.SetLk, LocksHarness.Range(B, Write, 50, 10)).AsTask();
        var free = h.Locks.LkAsync(B.Ctx(), fb, LockCmd.SetLk, LocksHarness.Range(B, Write, 500, 10)).AsTask();
        var setlkw = h.FlockW(B, fb, Write);
        var getlk = h.Locks.LkAsync(B.Ctx(), fb, LockCmd.GetLk, LocksHarness.Range(B, Write, 0, 0)).AsTask();
        await ClientGraphsUntil(() => h.Locks.Counts.HeldByGrace == 4, "four requests held by the grace");
        Assert.False(setlk.IsCompleted || free.IsCompleted || setlkw.IsCompleted || getlk.IsCompleted);
        Assert.Equal(0, h.Locks.Counts.Waiting); // held before the queue: nothing queued ahead of a later reclaim

        // An unlock passes at once, even in the grace: it can only give back, never take.
        Assert.Equal(Errno.OK, await h.SetLk(A, fa, Unlock, 90, 10));

        Assert.Equal(Errno.OK, EndGrace(h));
        Assert.Equal(Errno.EAGAIN, (await setlk.WaitAsync(LocksHarness.Bound)).Error);  // A reclaimed it first
        Assert.Equal(Errno.OK, (await free.WaitAsync(LocksHarness.Bound)).Error);       // nothing there: granted once the grace is over
        var holder = await getlk.WaitAsync(LocksHarness.Bound);
        Assert.Equal((Errno.OK, Write, A.Pid), (holder.Error, holder.Value.Type, holder.Value.Pid));
        Assert.False(setlkw.IsCompleted);                                              // now queued behind A's reclaimed flock
        Assert.Equal(Errno.OK, await h.Flock(A, fa, Unlock));
        Assert.Equal(Errno.OK, (await setlkw.WaitAsync(LocksHarness.Bound)).Error);

        var c = h.Locks.Counts;
        Assert.Equal((false, 2L, 0L, 4L), (c.InGrace, c.ReclaimsGranted, c.ReclaimsRefused, c.HeldByGrace));
    }

    [Fact]
    public async Task A_conflicting_reclaim_is_refused_and_after_the_grace_a_reclaim_is_a_plain_setlk()
    {
        var h = await InGraceAsync();
        Fd fa = h.Open(), fb = h.Open();
        Assert.Equal(Errno.OK, (await Reclaim(h, A, fa, LocksHarness.Range(A, Write, 0, 10))).Error);
        Assert.Equal(Errno.EAGAIN, (await Reclaim(h, B, fb, LocksHarness.Range(B, Read, 5, 1))).Error);
        Assert.Equal(Errno.EINVAL, (await Reclaim(h, B, fb, LocksHarness.Range(B, Unlock, 0, 0))).Error);

        Assert.Equal(Errno.OK, EndGrace(h));
        Assert.Equal(Errno.EAGAIN, (await Reclaim(h, B, fb, LocksHarness.Range(B, Read, 5, 1))).Error);
        Assert.Equal(Errno.OK, (await Reclaim(h, B, fb, LocksHarness.Range(B, Read, 20, 1))).Error);
        Assert.Equal((2L, 2L), (h.Locks.Counts.ReclaimsGranted, h.Locks.Counts.ReclaimsRefused));
    }

    [Fact]
    public async Task A_request_held_by_the_grace_can_be_interrupted_and_teardown_fails_the_rest()
    {
        var h = await InGraceAsync();
        using var cts = new CancellationTokenSource();
        var interrupted = h.SetLkW(B, h.Open(), Write, 0, 0, cts.Token);
        var left = h.SetLkW(A, h.Open(), Write, 0, 0);
        await ClientGraphsUntil(() => h.Locks.Counts.HeldByGrace == 2, "both held");
        cts.Cancel();
        Assert.Equal(Errno.EINTR, (await interrupted.WaitAsync(LocksHarness.Bound)).Error);
        Assert.False(left.IsCompleted);
        await h.Locks.FiniAsync();
        Assert.Equal(Errno.ENOTCONN, (await left.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task A_longer_lock_grace_set_at_run_time_extends_it_and_a_shorter_one_ends_it()
    {
        long start = Environment.TickCount64;
        var h = await LocksHarness.CreateAsync(new() { ["lock-grace"] = "3s" });
        var spec = BuiltinXlators.CreateRegistry().Find("features/locks")!;
        Assert.Equal(Errno.OK, h.Locks.Reconfigure(new OptionValues(spec.Options, new Dictionary<string, string> { ["lock-grace"] = "600" })));
        var held = h.SetLkW(A, h.Open(), Write, 0, 0);
        await ClientGraphsUntil(() => Environment.TickCount64 - start > 3500, "the first grace's end has passed");
        Assert.True(h.Locks.InGrace, "still in the longer grace");
        Assert.False(held.IsCompleted);
        Assert.Equal(Errno.OK, EndGrace(h));
        Assert.Equal(Errno.OK, (await held.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task With_a_marker_option_and_no_marker_file_there_is_no_grace()
    {
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, ".graft", "lock-grace-marker");
        var h = await LocksHarness.CreateAsync(new() { ["lock-grace"] = "600", ["grace-marker"] = marker });
        Assert.False(h.Locks.InGrace);
        Assert.Equal(Errno.OK, await h.SetLk(B, h.Open(), Write, 0, 0));
        Assert.Equal(0, h.Locks.Counts.HeldByGrace);
    }

    [Fact]
    public async Task With_a_marker_file_left_by_the_last_run_the_grace_applies()
    {
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, "lock-grace-marker");
        File.WriteAllText(marker, "locks held\n");
        var h = await LocksHarness.CreateAsync(new() { ["lock-grace"] = "600", ["grace-marker"] = marker });
        Assert.True(h.Locks.InGrace);
        var held = h.Locks.LkAsync(B.Ctx(), h.Open(), LockCmd.SetLk, LocksHarness.Range(B, Write, 0, 0)).AsTask();
        await ClientGraphsUntil(() => h.Locks.Counts.HeldByGrace == 1, "held by the grace");
        Assert.Equal(Errno.OK, EndGrace(h));
        Assert.Equal(Errno.OK, (await held.WaitAsync(LocksHarness.Bound)).Error);
    }

    [Fact]
    public async Task The_marker_is_written_before_the_first_grant_is_answered_and_removed_only_after_a_quiet_second()
    {
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, ".graft", "lock-grace-marker");
        var h = await LocksHarness.CreateAsync(new() { ["grace-marker"] = marker });
        var fd = h.Open();

        Assert.Equal(Errno.OK, await h.SetLk(A, fd, Write, 0, 10));
        Assert.True(File.Exists(marker), "the marker exists once a lock is answered");
        // A lock/unlock loop with gaps far below the debounce writes the marker once, not per call.
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(Errno.OK, await h.SetLk(A, fd, Unlock, 0, 0));
            Assert.Equal(Errno.OK, await h.SetLk(A, fd, Write, 0, 10));
        }
        Assert.True(File.Exists(marker));
        Assert.Equal(1L, h.Locks.Counts.MarkerWrites);

        // A waiter granted later counts as a lock held too: the marker stays while anything is held.
        var w = h.SetLkW(B, h.Open(), Write, 0, 10);
        Assert.Equal(Errno.OK, await h.SetLk(A, fd, Unlock, 0, 0));
        Assert.Equal(Errno.OK, (await w.WaitAsync(LocksHarness.Bound)).Error);
        Assert.True(File.Exists(marker));

        long quietSince = Environment.TickCount64;
        await h.Flush(B, fd);
        await ClientGraphsUntil(() => !File.Exists(marker), "marker removed once nothing is locked");
        Assert.True(Environment.TickCount64 - quietSince >= 900, "removed only after the debounce");

        Assert.Equal(Errno.OK, await h.Flock(A, fd, Read)); // and written again for the next lock
        Assert.True(File.Exists(marker));
        Assert.Equal(2L, h.Locks.Counts.MarkerWrites);
    }

    [Fact]
    public async Task A_stop_with_locks_held_keeps_the_marker_and_the_next_start_has_a_grace_in_which_they_are_reclaimed()
    {
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, "lock-grace-marker");
        var o = new Dictionary<string, string> { ["grace-marker"] = marker };

        var first = await LocksHarness.CreateAsync(o);
        var fd = first.Open();
        Assert.Equal(Errno.OK, await first.SetLk(A, fd, Write, 0, 0));
        Assert.Equal(Errno.OK, await first.Flock(A, fd, Write));
        await first.Locks.ReleaseAsync(fd); // protocol/server releases every fd as the brick stops: the flock goes
        await first.Locks.FiniAsync();
        Assert.True(File.Exists(marker), "the stop leaves the marker: the clients still believe they hold their locks");

        var restarted = await LocksHarness.CreateAsync(new(o) { ["lock-grace"] = "600" });
        Assert.True(restarted.Locks.InGrace);
        var again = restarted.Open();
        Assert.Equal(Errno.OK, (await Reclaim(restarted, A, again, LocksHarness.Range(A, Write, 0, 0))).Error);
        Assert.Equal(Errno.OK, (await Reclaim(restarted, A, again, LocksHarness.FlockOf(A, Write))).Error);
        Assert.Equal(Errno.EAGAIN, (await Reclaim(restarted, B, restarted.Open(), LocksHarness.FlockOf(B, Read))).Error);
        Assert.Equal(Errno.OK, EndGrace(restarted));

        // Nothing held any more: the marker goes after the debounce, so the start after that has no grace.
        Assert.Equal(Errno.OK, await restarted.Flush(A, again));
        await restarted.Locks.ReleaseAsync(again);
        await ClientGraphsUntil(() => !File.Exists(marker), "marker removed");
        await restarted.Locks.FiniAsync();
        var third = await LocksHarness.CreateAsync(new(o) { ["lock-grace"] = "600" });
        Assert.False(third.Locks.InGrace);
    }

    private static Task ClientGraphsUntil(Func<bool> cond, string what) => Protocol.ClientGraphs.Until(cond, what);
}

/// <summary>A private temporary directory, removed with everything in it.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "graft-locks-tests", Guid.NewGuid().ToString("n"));

    public TempDir() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
