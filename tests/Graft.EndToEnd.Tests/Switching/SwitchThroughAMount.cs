using System.Diagnostics;
using System.Runtime.InteropServices;
using Graft.EndToEnd.Tests.Mounting;
using Microsoft.Win32.SafeHandles;

namespace Graft.EndToEnd.Tests.Switching;

/// <summary>
/// Live graph switches of a real mount (brick process, mount daemon, kernel): applications keep
/// their files, directories and working directories, and never see an error.
/// </summary>
public class SwitchThroughAMount(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The appender/checker program, built beside the tests in the same configuration.</summary>
    private static string Tool => LockProcess.Tool;

    [MountTheory]
    [InlineData("debug/faults")]
    [InlineData("performance/write-behind")] // acknowledged-early writes must land before each fd moves
    public async Task Sixteen_appending_processes_see_no_error_and_lose_no_record_across_200_switches(string layer)
    {
        await using var m = await SwitchingMount.UpAsync("switch-storm");
        var stop = Path.Combine(m.Volume.Home, "stop");
        var writers = new List<Process>();
        long total = 0;
        var readers = new List<Task>();
        using var readStop = new CancellationTokenSource();
        try
        {
            for (int w = 0; w < 16; w++)
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in new[] { Tool, "append", m.P($"w{w}"), w.ToString(), stop, "4" }) psi.ArgumentList.Add(a);
                writers.Add(Process.Start(psi)!);
            }
            foreach (var p in writers)
                Assert.Equal("ready", await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)));
            // Two readers per file, in this process, reading what is being appended.
            for (int r = 0; r < 32; r++)
            {
                var file = m.P($"w{r / 2}");
                readers.Add(Task.Run(async () =>
                {
                    var buf = new byte[65536];
                    while (!readStop.IsCancellationRequested)
                    {
                        await using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0);
                        while (await fs.ReadAsync(buf) > 0) { }
                        await Task.Delay(5);
                    }
                }));
            }

            for (int i = 0; i < 200; i++) await m.ToggleAsync(layer);

            File.WriteAllText(stop, "");
            readStop.Cancel();
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60)); // a read error would throw here
            for (int w = 0; w < 16; w++)
            {
                var p = writers[w];
                await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                var said = await p.StandardOutput.ReadToEndAsync();
                Assert.True(p.ExitCode == 0, $"writer {w} failed: {await p.StandardError.ReadToEndAsync()}");
                var records = int.Parse(said.Trim().Split(' ')[^1]);
                total += records;
                var check = await Proc.RunAsync("dotnet", [Tool, "check", m.P($"w{w}"), w.ToString(), records.ToString()], seconds: 60);
                Assert.True(check.Code == 0, $"writer {w}: {check.Err}");
            }
            output.WriteLine($"records {total}, switches {m.Counter("switches")}, fd migrations {m.Counter("fdMigrations")}, graphs destroyed {m.Counter("graphsDestroyed")}");
            Assert.True(m.Counter("switches") >= 200);
            Assert.Equal(0, m.Counter("fdMigrationFailures"));
            Assert.True(m.Counter("fdMigrations") >= 200, $"only {m.Counter("fdMigrations")} fd migrations");
            await m.OneGraphAliveAsync(); // and at the end exactly one graph is alive
            Assert.True(m.Counter("retirementsForced") == 0, "a retirement was forced:\n" + m.Volume.Logs());
        }
        finally
        {
            File.WriteAllText(stop, "");
            foreach (var p in writers) { if (!p.HasExited) p.Kill(); p.Dispose(); }
        }
    }

    [MountFact]
    public async Task An_open_unlinked_file_reads_writes_fstats_fsyncs_and_closes_after_a_switch()
    {
        await using var m = await SwitchingMount.UpAsync("switch-unlinked");
        var path = m.P("gone");
        var fs = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 0);
        fs.Write("kept"u8);
        File.Delete(path);
        await m.ToggleAsync();
        fs.Write("+more"u8);
        fs.Position = 0;
        var buf = new byte[32];
        Assert.Equal("kept+more", System.Text.Encoding.ASCII.GetString(buf, 0, fs.Read(buf)));
        Assert.Equal(9, fs.Length);     // fstat
        fs.Flush(flushToDisk: true);    // fsync
        fs.Dispose();                   // close
        Assert.False(File.Exists(path));
        Assert.Equal(0, m.Counter("fdMigrationFailures"));
    }

    [MountFact]
    public async Task A_directory_half_read_across_a_switch_lists_every_entry_exactly_once()
    {
        await using var m = await SwitchingMount.UpAsync("switch-readdir");
        Directory.CreateDirectory(m.P("d"));
        var names = Enumerable.Range(0, 3000).Select(i => $"entry-number-{i:D5}").ToHashSet();
        foreach (var n in names) File.WriteAllBytes(m.P("d", n), []);
        var seen = new List<string>();
        using (var e = Directory.EnumerateFileSystemEntries(m.P("d")).GetEnumerator())
        {
            for (int i = 0; i < 100 && e.MoveNext(); i++) seen.Add(Path.GetFileName(e.Current));
            await m.ToggleAsync();
            while (e.MoveNext()) seen.Add(Path.GetFileName(e.Current));
        }
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.True(names.SetEquals(seen), $"{names.Except(seen).Count()} missing, {seen.Except(names).Count()} unexpected");
    }

    [MountFact]
    public async Task A_file_opened_O_CREAT_O_EXCL_O_TRUNC_then_written_is_not_refused_or_truncated_by_a_switch()
    {
        await using var m = await SwitchingMount.UpAsync("switch-excl");
        int fd = Sys.open(m.P("x"), Sys.O_CREAT | Sys.O_EXCL | Sys.O_TRUNC | Sys.O_RDWR, 0x1A4);
        Assert.True(fd >= 0, $"open: errno {Sys.Errno}");
        using var fs = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, 0);
        fs.Write("0123456789"u8);
        await m.ToggleAsync();
        fs.Write("ab"u8);
        fs.Flush(flushToDisk: true);
        Assert.Equal("0123456789ab", File.ReadAllText(m.P("x")));
        Assert.Equal(0, m.Counter("fdMigrationFailures"));
    }

    [MountFact]
    public async Task Two_threads_on_the_same_unmigrated_fd_cause_exactly_one_reopen()
    {
        // No background sweep: it could move the idle fd before the two threads get to it. The sweep never waits
        // past retirement_timeout (then the old graph is torn down, idle fd and all), so that is as long.
        await using var m = new SwitchingMount(await MountedVolume.UpAsync("switch-single-flight", "sweep_delay=3600", "retirement_timeout=3600", "debug"));
        // Made in the brick directly, so no page of it is in the mount's cache: every read below
        // reaches the daemon (offsets far apart, beyond any read-ahead).
        using (var b = File.Create(Path.Combine(m.Volume.Brick, "shared"))) b.SetLength(64L << 20);
        // The fd lives in a process of its own: an fd of this test process would be inherited by every child another
        // test forks here until its exec closes it, and that close is a FLUSH of the file, which moves it.
        await using var reader = await LockProcess.StartAsync("reader");
        await reader.ExpectAsync($"open f {m.P("shared")} r", "ok");
        for (int round = 0; round < 3; round++)
        {
            var old = m.State().GetProperty("activeGeneration").GetInt64(); // where the fd is: the last round's reads moved it here
            await m.ToggleAsync();
            var before = m.Counter("fdMigrations");
            var open = m.State().GetProperty("openFiles");
            Assert.True(open.TryGetProperty(old.ToString(System.Globalization.CultureInfo.InvariantCulture), out _),
                $"round {round}: a switch moved the idle fd off graph {old} before it was used: {open}");
            // Two threads of the reader read at once, offsets far apart and beyond any read-ahead.
            long at = round * 2 * (8L << 20) + 4096;
            Assert.Equal("ok 4096 4096", await reader.SendAsync($"reads f 4096 {at} {at + (8L << 20)}"));
            var after = m.Counter("fdMigrations");
            if (before + 1 == after) continue;
            var logs = m.Volume.Logs(); // read once: the log grows between two reads
            Assert.Fail($"round {round}: fdMigrations {before} -> {after}\n{logs[^Math.Min(logs.Length, 20000)..]}");
        }
    }

    [MountFact]
    public async Task A_shell_whose_working_directory_is_in_the_mount_carries_on_after_a_switch()
    {
        await using var m = await SwitchingMount.UpAsync("switch-cwd");
        Directory.CreateDirectory(m.P("work", "sub"));
        File.WriteAllText(m.P("work", "sub", "rel.txt"), "relative\n");
        var psi = new ProcessStartInfo("bash") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = m.P("work") };
        using var sh = Process.Start(psi)!;
        await sh.StandardInput.WriteLineAsync("cd sub && echo started");
        Assert.Equal("started", await sh.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        await m.ToggleAsync();
        await sh.StandardInput.WriteLineAsync("pwd; cat rel.txt; echo made > new.txt; cat ../sub/new.txt; exit");
        var output = await sh.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await sh.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(sh.ExitCode == 0, await sh.StandardError.ReadToEndAsync());
        Assert.Equal($"{m.P("work", "sub")}\nrelative\nmade\n", output);
        // A new file created under the root right after a switch is found.
        await m.ToggleAsync();
        File.WriteAllText(m.P("fresh"), "f");
        Assert.Contains("fresh", Directory.GetFiles(m.Mnt).Select(Path.GetFileName));
        Assert.Equal("f", File.ReadAllText(m.P("fresh")));
    }

    [MountFact]
    public async Task A_broken_volfile_leaves_the_old_graph_serving_with_the_error_in_graft_state()
    {
        await using var m = await SwitchingMount.UpAsync("switch-broken");
        File.WriteAllText(m.P("f"), "1");
        var generation = m.State().GetProperty("activeGeneration").GetInt64();
        m.Write(m.Variant(true).Replace("type debug/faults", "type debug/no-such-type"));
        await Proc.Until(() => m.State().GetProperty("lastVolfileError").ValueKind == System.Text.Json.JsonValueKind.Object,
            "the error in graft state", seconds: 30);
        var err = m.State().GetProperty("lastVolfileError");
        Assert.Equal(m.VolfilePath, err.GetProperty("file").GetString());
        Assert.True(err.GetProperty("line").GetInt32() > 0);
        Assert.Contains("debug/no-such-type", err.GetProperty("message").GetString());
        File.AppendAllText(m.P("f"), "2"); // still served
        Assert.Equal("12", File.ReadAllText(m.P("f")));
        Assert.Equal(generation, m.State().GetProperty("activeGeneration").GetInt64());
        // `graft state` prints the same JSON.
        var state = await Proc.Graft(m.Volume.Home, "state", m.Mnt);
        Assert.Contains("debug/no-such-type", state.Ok("graft state").Out);
    }
}

/// <summary>SIGHUP makes the mount daemon re-read its volfile; it never ends the daemon.</summary>
public class SighupRereadsTheVolfile
{
    [MountFact]
    public async Task Sighup_with_an_unchanged_volfile_keeps_the_graph_and_the_daemon()
    {
        await using var m = await SwitchingMount.UpAsync("switch-hup");
        File.WriteAllText(m.P("f"), "x");
        var pid = m.Volume.DaemonPid();
        for (int i = 0; i < 3; i++) Assert.Equal(0, Sys.kill(pid, 1));
        await Task.Delay(200); // give a (wrong) default SIGHUP action the time to kill it
        Assert.True(Directory.Exists($"/proc/{pid}"), "the daemon died of SIGHUP");
        Assert.Equal(1, m.State().GetProperty("activeGeneration").GetInt64());
        Assert.Equal("x", File.ReadAllText(m.P("f")));
    }

    /// <summary>
    /// The volfile is changed through a second hard link in another directory: the daemon's watch is on the
    /// volfile's directory, and the kernel reports a write to the directory the file was opened through, so
    /// only SIGHUP can make the daemon see this change (as for a volfile on a file system without inotify).
    /// The new graph puts debug/faults on top that fails mkdir with EDQUOT: a behaviour only it has.
    /// </summary>
    [MountFact]
    public async Task Sighup_applies_a_changed_volfile_the_watch_did_not_see_and_open_files_carry_on()
    {
        await using var m = await SwitchingMount.UpAsync("switch-hup-changed");
        var other = Path.Combine(m.Volume.Home, "edit");
        Directory.CreateDirectory(other, Graft.Mount.Switching.TrustedVolfile.DirectoryMode);
        var link = Path.Combine(other, "client.vol");
        Assert.True(Sys.link(m.VolfilePath, link) == 0, $"link: errno {Sys.Errno}");
        using var held = new FileStream(m.P("held"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite, 0);
        held.Write("before\n"u8);
        held.Flush(flushToDisk: true);
        var before = m.State().GetProperty("activeGeneration").GetInt64();

        Proc.WriteVolfile(link, m.Variant(true, "    option fail mkdir\n    option fail-errno EDQUOT\n"));
        Assert.Equal(File.ReadAllText(link), File.ReadAllText(m.VolfilePath)); // one file, two names
        // The premise: nothing but SIGHUP will apply it. A second is 100 times the watch's debounce; a watch
        // that did hear the write would switch within it (a load that delays it can only hide the check, not fail it).
        await Task.Delay(1000);
        Assert.Equal(before, m.State().GetProperty("activeGeneration").GetInt64());
        Assert.Equal(0, Sys.mkdir(m.P("made-before"), 0x1ED));

        var pid = m.Volume.DaemonPid();
        Assert.Equal(0, Sys.kill(pid, 1));
        await Proc.Until(() => m.State().GetProperty("activeGeneration").GetInt64() > before, "the switch SIGHUP asked for", seconds: 30);
        Assert.True(m.State().GetProperty("lastVolfileError").ValueKind == System.Text.Json.JsonValueKind.Null, m.State().ToString());

        Assert.Equal(-1, Sys.mkdir(m.P("made-after"), 0x1ED));  // the new graph's faults serve it
        Assert.Equal(122 /* EDQUOT */, Sys.Errno);
        Assert.False(Directory.Exists(m.P("made-after")));
        held.Write("after\n"u8);                            // and the file opened before the switch carries on
        held.Flush(flushToDisk: true);
        held.Position = 0;
        var buf = new byte[64];
        Assert.Equal("before\nafter\n", System.Text.Encoding.ASCII.GetString(buf, 0, held.Read(buf)));
        Assert.Equal(0, m.Counter("fdMigrationFailures"));
        Assert.Equal(pid, m.Volume.DaemonPid());
    }
}
