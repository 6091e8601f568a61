using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// A copy that fails a change (or is gone) stays blamed by the copies that made it: their counter
/// for it stays up, and no read is served from it — by this client or by one that starts afresh.
/// </summary>
public class ACopyThatMissesAChangeIsBlamed
{
    [Fact]
    public async Task The_others_count_the_missed_write_and_reads_skip_the_stale_copy()
    {
        // first-up would read from b0 if it were not blamed.
        await using var v = await ReplicatedVolume.CreateAsync(3, "read-policy first-up");
        await v.Volume.WriteAllBytesAsync("/f", "old!"u8.ToArray());
        await v.FaultAsync(0, "fail writev; fail-errno EIO");
        await v.Volume.WriteAllBytesAsync("/f", "new!"u8.ToArray());
        await v.FaultAsync(0, "");

        // b0 took the open's truncate but not the write.
        Assert.Equal("", File.ReadAllText(v.On(0, "/f")));
        Assert.Equal("new!", File.ReadAllText(v.On(1, "/f")));
        Assert.Equal(1, v.Counter(1, "/f", of: 0));
        Assert.Equal(1, v.Counter(2, "/f", of: 0));
        Assert.Equal(0, v.Counter(1, "/f", of: 1));
        Assert.Equal(1, v.Counter(0, "/f", of: 0));  // b0 knows it missed it too

        Assert.Equal("new!"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/f"));
        var other = await v.OpenClientAsync();
        Assert.Equal("new!"u8.ToArray(), await other.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task A_copy_that_is_gone_is_blamed_for_new_names_and_files_keep_working()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "read-policy first-up");
        await v.Volume.CreateDirectoryAsync("/d");
        await v.TakeDownAsync(0);
        await v.Volume.WriteAllBytesAsync("/d/new", "x"u8.ToArray());
        Assert.False(File.Exists(v.On(0, "/d/new")));
        Assert.True(v.Counter(1, "/d", of: 0, kind: Pending.Entry) > 0);
        Assert.Equal(0, v.Counter(1, "/d", of: 1, kind: Pending.Entry));
        await v.BringBackAsync(0);
        Assert.Equal("x"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/d/new"));
    }
}

/// <summary>Consecutive writes on one file share one pre-op and one post-op (eager lock, delayed post-op); with post-op-delay 0 each write is its own transaction.</summary>
public class ConsecutiveWritesShareOneTransaction
{
    [Fact]
    public async Task A_hundred_writes_cost_one_pre_op_and_leave_nothing_pending_after_close()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Create))
        {
            long before = v.Afr.PreOps;
            for (int i = 0; i < 100; i++) await s.WriteAsync(new byte[100]);
            Assert.Equal(1, v.Afr.PreOps - before);
            // The window is open: every copy counts itself as in the middle of a change, and blames no other.
            for (int c = 0; c < 3; c++) Assert.Equal(1, v.Counter(c, "/f", of: c));
            Assert.Equal(0, v.Counter(0, "/f", of: 2));
        }
        Assert.True(v.Clean("/f"), "the post-op did not take the counts off at close");
        Assert.Equal(10_000, new FileInfo(v.On(2, "/f")).Length);
    }

    [Fact]
    public async Task With_no_delay_every_write_is_its_own_transaction()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 0");
        await using var s = await v.Volume.OpenAsync("/f", FileMode.Create);
        long before = v.Afr.PreOps;
        for (int i = 0; i < 20; i++) await s.WriteAsync(new byte[10]);
        Assert.Equal(20, v.Afr.PreOps - before);
        Assert.True(v.Clean("/f"));
    }

    [Fact]
    public async Task The_window_closes_by_itself_after_the_delay()
    {
        await using var v = await ReplicatedVolume.CreateAsync(2, "post-op-delay 100ms");
        await using var s = await v.Volume.OpenAsync("/f", FileMode.Create);
        await s.WriteAsync(new byte[10]);
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!v.Clean("/f") && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.True(v.Clean("/f"), "the delayed post-op never came while the file stayed open");
    }
}

/// <summary>
/// The pre-op counts the change on each copy against that copy itself, and against every child
/// that is not in the change, before the change is made: a copy whose pre-op failed is blamed on
/// the others at once, not only at the post-op, so a client that dies in between never leaves it
/// looking like the good copy.
/// </summary>
public class ThePreOpBlamesTheCopiesLeftOut
{
    [Fact]
    public async Task A_copy_whose_pre_op_failed_is_blamed_while_the_window_is_still_open()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s");
        await v.Volume.WriteAllBytesAsync("/f", "a"u8.ToArray());
        await v.FaultAsync(2, "fail xattrop; fail-count 1");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Open))
        {
            await s.WriteAsync("b"u8.ToArray());
            for (int c = 0; c < 2; c++)
            {
                Assert.Equal(1, v.Counter(c, "/f", of: c)); // in the middle of a change
                Assert.Equal(1, v.Counter(c, "/f", of: 2)); // b2 is not in it
            }
            Assert.Equal(0, v.Counter(2, "/f", of: 2));
            Assert.Equal("a"u8.ToArray(), File.ReadAllBytes(v.On(2, "/f")));
        }
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(0, v.Counter(c, "/f", of: c));
            Assert.Equal(1, v.Counter(c, "/f", of: 2));
        }
    }

    [Fact]
    public async Task A_copy_that_was_down_while_a_window_its_client_never_closed_took_writes_is_healed_not_trusted()
    {
        // self-heal off: the heal under test is the one the test starts.
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 60s; self-heal off");
        await v.Volume.WriteAllBytesAsync("/f", "old"u8.ToArray());
        await v.TakeDownAsync(2);
        var s = await v.Volume.OpenAsync("/f", FileMode.Open);
        await s.WriteAsync("new"u8.ToArray());
        // As a client that died here leaves them: b0 and b1 in the middle of the change and blaming b2,
        // b2 (down through all of it) knowing nothing.
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(1, v.Counter(c, "/f", of: c));
            Assert.Equal(1, v.Counter(c, "/f", of: 2));
        }
        for (int j = 0; j < 3; j++) Assert.Equal(0, v.Counter(2, "/f", of: j));
        Assert.Equal("old", File.ReadAllText(v.On(2, "/f")));
        await v.BringBackAsync(2);

        var fresh = await v.OpenClientAsync();
        var gfid = (await fresh.ListDirectoryAsync("/")).Single(e => e.Name == "f").Gfid;
        var afr = (ReplicateTranslator)fresh.Session.ActiveGraph.Top;
        Assert.Equal(HealOutcome.Healed, await afr.HealAsync(gfid));
        for (int c = 0; c < 3; c++) Assert.Equal("new", File.ReadAllText(v.On(c, "/f")));
        Assert.Equal("new"u8.ToArray(), await fresh.ReadAllBytesAsync("/f"));
        await s.DisposeAsync();
    }

    [Fact]
    public async Task Writes_acknowledged_in_a_window_its_client_never_closed_are_what_another_client_reads()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 60s");
        var s = await v.Volume.OpenAsync("/f", FileMode.Create);
        var data = new byte[64 << 10];
        Random.Shared.NextBytes(data);
        await s.WriteAsync(data);
        // As a client that died here leaves them: every copy in the middle of a change, none blamed.
        for (int c = 0; c < 3; c++) Assert.Equal(1, v.Counter(c, "/f", of: c));
        var other = await v.OpenClientAsync();
        Assert.Equal(data, await other.ReadAllBytesAsync("/f"));
        await s.DisposeAsync();
    }
}

/// <summary>
/// A write window sends each copy's pre-op as soon as that copy's lock is granted. When another copy's
/// lock was busy, the pre-ops that landed are taken back before the locks are taken again one copy at a
/// time: the window that follows counts once on each copy, and blames none.
/// </summary>
public class AWindowThatFindsACopyBusyTakesItsPreOpsBack
{
    [Fact]
    public async Task Each_copy_counts_the_window_once_and_nothing_is_pending_after_close()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s");
        await v.Volume.WriteAllBytesAsync("/f", "a"u8.ToArray());
        Assert.True(v.Clean("/f"));
        // b2's next data lock answers busy, as when another client holds it.
        await v.FaultAsync(2, "fail inodelk; fail-errno EAGAIN; fail-count 1");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Open))
        {
            await s.WriteAsync("b"u8.ToArray());
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(1, v.Counter(c, "/f", of: c)); // the window's pre-op, once (not the taken-back one too)
                for (int j = 0; j < 3; j++) if (j != c) Assert.Equal(0, v.Counter(c, "/f", of: j));
            }
        }
        Assert.True(v.Clean("/f"), "a pre-op was left behind");
        for (int c = 0; c < 3; c++) Assert.Equal("b", File.ReadAllText(v.On(c, "/f")));
    }
}
