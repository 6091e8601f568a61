using System.Text;
using Graft.Core;
using Graft.Mount;

namespace Graft.Client.Tests.Switching;

/// <summary>Open files keep working across graph switches (library front end, real brick).</summary>
public class OpenFilesSurviveSwitches
{
    [Fact]
    public async Task A_stream_written_before_and_after_a_switch_keeps_all_its_data_and_moves_once()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/f", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync("before|"u8.ToArray());
        var r = await t.ToggleAsync();
        Assert.Equal(2, r.Generation);
        Assert.Equal(1, s.Handle.Fd.Graph!.Generation); // nothing moved at switch time
        await s.WriteAsync("after"u8.ToArray());
        Assert.Equal(2, s.Handle.Fd.Graph!.Generation);
        s.Position = 0;
        var buf = new byte[64];
        int n = await s.ReadAsync(buf);
        Assert.Equal("before|after", Encoding.ASCII.GetString(buf, 0, n));
        var st = t.State;
        Assert.Equal(1, st.Counters.Switches);
        Assert.Equal(1, st.Counters.FdMigrations);
        Assert.Equal(0, st.Counters.FdMigrationFailures);
        Assert.Equal(2, st.ActiveGeneration);
    }

    [Fact]
    public async Task An_open_unlinked_file_reads_writes_fstats_fsyncs_and_closes_after_a_switch()
    {
        await using var t = await SwitchVolume.CreateAsync();
        var s = await t.Volume.OpenAsync("/gone", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync("kept"u8.ToArray());
        await t.Volume.DeleteFileAsync("/gone");
        await t.ToggleAsync();
        await s.WriteAsync("+more"u8.ToArray());           // write
        s.Position = 0;
        var buf = new byte[32];
        Assert.Equal("kept+more", Encoding.ASCII.GetString(buf, 0, await s.ReadAsync(buf))); // read
        Assert.Equal(9, (await s.StatAsync()).Size);       // fstat
        await s.FsyncAsync();                              // fsync
        Assert.Equal(2, s.Handle.Fd.Graph!.Generation);
        await s.DisposeAsync();                            // close
        Assert.Equal(0, t.State.Counters.FdMigrationFailures);
    }

    [Fact]
    public async Task A_file_opened_with_O_CREAT_O_EXCL_O_TRUNC_is_neither_refused_nor_truncated_when_it_moves()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/x", OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_TRUNC | OpenFlags.O_RDWR);
        await s.WriteAsync("0123456789"u8.ToArray());
        await t.ToggleAsync();
        Assert.Equal(10, (await s.StatAsync()).Size); // reopened without O_EXCL (no EEXIST) and without O_TRUNC
        await s.WriteAsync("ab"u8.ToArray());
        Assert.Equal(12, (await s.StatAsync()).Size);
    }

    [Fact]
    public async Task An_O_APPEND_stream_still_appends_after_a_switch()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var a = await t.Volume.OpenAsync("/log", OpenFlags.O_CREAT | OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        await using var b = await t.Volume.OpenAsync("/log", OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        await a.WriteAsync("1"u8.ToArray());
        await t.ToggleAsync();
        await b.WriteAsync("2"u8.ToArray());
        await a.WriteAsync("3"u8.ToArray());
        Assert.Equal("123", Encoding.ASCII.GetString(await t.Volume.ReadAllBytesAsync("/log")));
    }

    [Fact]
    public async Task A_file_chmodded_to_000_after_it_was_opened_still_moves()
    {
        var options = new VolumeOptions { Uid = 4242, Gid = 4242, ChildUpTimeout = TimeSpan.FromSeconds(10) };
        await using var t = await SwitchVolume.CreateAsync(options);
        File.SetUnixFileMode(t.BrickDir, (UnixFileMode)0x1FF); // 4242 may create in the root
        await using var s = await t.Volume.OpenAsync("/mine", OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x180);
        await s.WriteAsync("a"u8.ToArray());
        await t.Volume.ChmodAsync("/mine", 0);
        await t.ToggleAsync();
        await s.WriteAsync("b"u8.ToArray()); // the reopen runs as the mount, not as 4242
        Assert.Equal(2, (await s.StatAsync()).Size);
        Assert.Equal(0, t.State.Counters.FdMigrationFailures);
    }

    [Fact]
    public async Task Two_callers_on_the_same_unmigrated_stream_cause_exactly_one_reopen()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/shared", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync(new byte[8192]);
        for (int round = 1; round <= 5; round++)
        {
            await t.ToggleAsync();
            var file = s.Handle;
            var ctx = FopContext.Root();
            using var go = new ManualResetEventSlim();
            var callers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            {
                go.Wait(TimeSpan.FromSeconds(5));
                var r = await t.Volume.Session.ReadAsync(FopContext.Root(), file, new byte[4096], 0);
                Assert.Equal(4096, r.Value);
            })).ToArray();
            go.Set();
            await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(round, t.State.Counters.FdMigrations);
        }
    }
}

/// <summary>What triggers a new graph, what is applied in place, and what is refused.</summary>
public class ApplyingVolfiles
{
    [Fact]
    public async Task A_runtime_option_change_is_applied_in_place_without_a_new_graph()
    {
        await using var t = await SwitchVolume.CreateAsync();
        var r = await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(t.BrickDir, faults: true));
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        r = await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(t.BrickDir, faults: true, faultsOptions: "    option delay-duration 5ms\n"));
        Assert.Equal(SwitchOutcome.Reconfigured, r.Outcome);
        Assert.Equal(2, t.State.ActiveGeneration);
        Assert.Equal(1, t.State.Counters.Reconfigures);
        Assert.Equal(1, t.State.Counters.Switches);
        r = await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(t.BrickDir, faults: true, faultsOptions: "    option delay-duration 5ms\n"));
        Assert.Equal(SwitchOutcome.Unchanged, r.Outcome);
    }

    [Fact]
    public async Task A_broken_volfile_leaves_the_old_graph_serving_and_its_error_in_the_state()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/f", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        var broken = SwitchVolume.Volfile(t.BrickDir, faults: true).Replace("type debug/faults", "type debug/nope");
        var r = await t.Volume.ApplyVolfileAsync(broken, "client.vol");
        Assert.Equal(SwitchOutcome.Failed, r.Outcome);
        var err = t.State.LastVolfileError!;
        Assert.Equal("client.vol", err.File);
        Assert.True(err.Line > 0);
        Assert.Contains("debug/nope", err.Message);
        await s.WriteAsync("still served"u8.ToArray()); // the old graph keeps serving
        Assert.Equal(1, t.State.ActiveGeneration);
        Assert.Equal(0, t.State.Counters.Switches);
        await t.ToggleAsync();
        Assert.Null(t.State.LastVolfileError); // a good volfile clears it
    }

    [Fact]
    public async Task A_graph_that_cannot_initialise_leaves_the_old_graph_serving()
    {
        await using var t = await SwitchVolume.CreateAsync();
        var missing = Path.Combine(t.BrickDir, "no", "such", "dir");
        var r = await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(missing, faults: true));
        Assert.Equal(SwitchOutcome.Failed, r.Outcome);
        Assert.NotNull(t.State.LastVolfileError);
        await t.Volume.WriteAllBytesAsync("/ok", "y"u8.ToArray());
        Assert.Equal(1, t.State.ActiveGeneration);
        await t.WaitOneGraphAsync(); // the failed graph is torn down, not leaked
    }
}

/// <summary>Directories and inodes across switches.</summary>
public class NamespaceAcrossSwitches
{
    [Theory]
    [InlineData(false)] // same backends: the brick's positions are reused
    [InlineData(true)]  // other backends (the posix options differ): restart and skip what was returned
    public async Task A_directory_half_read_across_a_switch_returns_every_entry_exactly_once(bool otherBackends)
    {
        await using var t = await SwitchVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/d");
        var names = Enumerable.Range(0, 300).Select(i => $"entry-{i:D4}").ToHashSet();
        foreach (var n in names) await t.Volume.WriteAllBytesAsync("/d/" + n, Array.Empty<byte>());

        var session = t.Volume.Session;
        var ctx = FopContext.Root();
        var dirNode = (await session.LookupAsync(ctx, session.Root, "d")).Value.Node;
        var dir = (await session.OpendirAsync(ctx, dirNode)).Value;
        var seen = new List<string>();
        long cookie = 0;
        var first = (await session.ReaddirAsync(ctx, dir, cookie, 100)).Value;
        foreach (var e in first) { seen.Add(e.Entry.Name); cookie = e.Entry.NextOffset; }

        var extra = otherBackends ? "    option dir-fd-cache-size 64\n" : "";
        Assert.Equal(SwitchOutcome.Switched, (await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(t.BrickDir, true, extra))).Outcome);
        while (true)
        {
            var batch = (await session.ReaddirAsync(ctx, dir, cookie, 70)).Value;
            if (batch.Count == 0) break;
            foreach (var e in batch) { seen.Add(e.Entry.Name); cookie = e.Entry.NextOffset; }
        }
        await session.ReleasedirAsync(dir);
        session.Forget(dirNode, 1);

        var files = seen.Where(n => n is not ("." or "..")).ToList();
        Assert.Equal(files.Count, files.Distinct().Count()); // nothing twice
        Assert.True(names.SetEquals(files), $"missing: {string.Join(",", names.Except(files).Take(5))}");
        Assert.Equal(2, dir.Fd.Graph!.Generation);
    }

    [Fact]
    public async Task Nodes_resolve_on_the_new_graph_and_the_root_stays_the_root()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/a");
        await t.Volume.WriteAllBytesAsync("/a/b", "x"u8.ToArray());
        var session = t.Volume.Session;
        var ctx = FopContext.Root();
        var a = (await session.LookupAsync(ctx, session.Root, "a")).Value.Node;
        var id = a.HandleId;
        await t.ToggleAsync();
        Assert.Equal((ulong)MountSession.RootId, session.Root.HandleId);
        var b = await session.LookupAsync(ctx, a, "b"); // the parent resolves by GFID on the new graph
        Assert.True(b.Ok);
        Assert.Equal(id, a.HandleId); // ids never change because of a switch
        Assert.Equal(2, a.Inode.Graph!.Generation);
        await t.Volume.WriteAllBytesAsync("/new-after-switch", "n"u8.ToArray());
        Assert.True(await t.Volume.ExistsAsync("/new-after-switch"));
        session.Forget(b.Value.Node, 1);
        session.Forget(a, 1);
    }
}

/// <summary>Old graphs are drained and freed without any new request.</summary>
public class OldGraphsRetire
{
    [Fact]
    public async Task After_switches_an_idle_volume_with_open_files_retires_every_old_graph()
    {
        await using var t = await SwitchVolume.CreateAsync();
        var streams = new List<GraftFileStream>();
        for (int i = 0; i < 20; i++) streams.Add(await t.Volume.OpenAsync($"/idle{i}", OpenFlags.O_CREAT | OpenFlags.O_RDWR));
        for (int i = 0; i < 10; i++) await t.ToggleAsync();
        await t.WaitOneGraphAsync(); // nothing but the sweep moves these idle files
        var st = t.State;
        Assert.Equal(10, st.Counters.GraphsDestroyed);
        Assert.Equal(0, st.Counters.RetirementsForced);
        Assert.Equal(20, st.OpenFiles[11]);
        foreach (var s in streams) { await s.WriteAsync("z"u8.ToArray()); await s.DisposeAsync(); }
    }

    [Fact]
    public async Task A_dropped_call_on_the_old_graph_never_delays_the_switch_and_is_failed_when_retirement_is_forced()
    {
        var options = new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10), RetirementTimeout = TimeSpan.FromSeconds(1) };
        await using var t = await SwitchVolume.CreateAsync(options);
        var dropping = SwitchVolume.Volfile(t.BrickDir, faults: true, faultsOptions: "    option drop fstat\n    option drop-count 1\n");
        Assert.Equal(SwitchOutcome.Switched, (await t.Volume.ApplyVolfileAsync(dropping)).Outcome);
        await using var s = await t.Volume.OpenAsync("/held", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        var stuck = s.StatAsync().AsTask();
        await Task.Delay(50);
        Assert.False(stuck.IsCompleted);
        Assert.Equal(SwitchOutcome.Switched, (await t.Volume.ApplyVolfileAsync(SwitchVolume.Volfile(t.BrickDir, false))).Outcome);
        // The switch is done while the call is still held: it did not wait for the old graph. (The retirement bound
        // runs from the switch's end, so a slow switch under load cannot make this fail; a wall-clock bound could.)
        Assert.False(stuck.IsCompleted, "the switch waited for the old graph's held call");
        var e = await Assert.ThrowsAnyAsync<GraftIOException>(() => stuck.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.ENOTCONN, e.Errno);
        await t.WaitOneGraphAsync();
        Assert.Equal(1, t.State.Counters.RetirementsForced);
        await s.WriteAsync("after"u8.ToArray()); // the file itself carries on, on the new graph
    }
}

/// <summary>A migration that fails hurts one call of one file; the next call tries again.</summary>
public class FailedMigrations
{
    [Fact]
    public async Task A_reopen_that_fails_fails_that_call_with_its_cause_and_the_next_call_retries()
    {
        await using var t = await SwitchVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/f", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await using var other = await t.Volume.OpenAsync("/g", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync("a"u8.ToArray());
        // The new graph fails the first open it sees (the reopen of a migration) with ENOTCONN.
        var failing = SwitchVolume.Volfile(t.BrickDir, faults: true, faultsOptions: "    option fail open\n    option fail-errno ENOTCONN\n    option fail-count 1\n");
        Assert.Equal(SwitchOutcome.Switched, (await t.Volume.ApplyVolfileAsync(failing)).Outcome);
        var e = await Assert.ThrowsAnyAsync<GraftIOException>(async () => await s.WriteAsync("b"u8.ToArray()));
        Assert.Equal(Errno.ENOTCONN, e.Errno);
        Assert.Equal(1, t.State.Counters.FdMigrationFailures);
        Assert.Equal(Errno.ENOTCONN, s.Handle.LastMigrationError);
        await other.WriteAsync("unaffected"u8.ToArray()); // another file moves on its own
        await s.WriteAsync("c"u8.ToArray());              // and this one on its next call
        Assert.Equal(Errno.OK, s.Handle.LastMigrationError);
        Assert.Equal("ac", System.Text.Encoding.ASCII.GetString(await t.Volume.ReadAllBytesAsync("/f")));
    }

    [Fact]
    public async Task A_file_gone_from_the_volume_fails_with_ESTALE_when_it_would_move()
    {
        await using var t = await SwitchVolume.CreateAsync();
        // Not `await using`: closing it throws ESTALE, which would hide the assertion that failed.
        var s = await t.Volume.OpenAsync("/doomed", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync("x"u8.ToArray());
        // Removed behind Graft's back on the brick: its name and its handle.
        var gfid = s.Gfid.ToString();
        File.Delete(Path.Combine(t.BrickDir, "doomed"));
        foreach (var h in Directory.GetFiles(Path.Combine(t.BrickDir, ".graft", "handles"), gfid, SearchOption.AllDirectories)) File.Delete(h);
        await t.ToggleAsync();
        var e = await Assert.ThrowsAnyAsync<GraftIOException>(async () => await s.WriteAsync("y"u8.ToArray()));
        Assert.Equal(Errno.ESTALE, e.Errno);
        // The background sweep may have tried (and failed) to move it first, once or more.
        Assert.True(t.State.Counters.FdMigrationFailures >= 1, $"{t.State.Counters.FdMigrationFailures} failed migrations");
        // close reports it too, and the stream is closed all the same
        Assert.Equal(Errno.ESTALE, (await Assert.ThrowsAnyAsync<GraftIOException>(() => s.DisposeAsync().AsTask())).Errno);
        Assert.False(s.CanSeek);
    }
}
