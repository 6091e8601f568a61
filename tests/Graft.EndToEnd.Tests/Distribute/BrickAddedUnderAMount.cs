using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>
/// add-brick through a mount: the client volfile gains a subvolume, the mount switches to the new
/// graph, and what applications hold open goes on working across the switch.
/// </summary>
public class BrickAddedUnderAMount
{
    [MountFact]
    public async Task Appenders_and_an_fsx_run_lose_no_byte_across_the_switch()
    {
        await using var m = await DistributedMount.StartAsync("dht-add", 2);
        var d = m.P("live");
        Directory.CreateDirectory(d);

        const int writers = 4, records = 400;
        using var stop = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var path = Path.Combine(d, $"log{w}");
            await using var s = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
            for (int r = 0; r < records; r++)
            {
                await s.WriteAsync(Workloads.Record(w, r));
                await s.FlushAsync();
                if (r % 50 == 0) await Task.Delay(5);
            }
        })).ToArray();
        // And an fsx-style run beside them: random writes, truncates and reads of one file checked
        // against a model of its bytes, before, during and after the switch.
        var fsxOps = new int[1];
        var fsx = Task.Run(() => Workloads.FsxRun(Path.Combine(d, "fsx"), fsxOps, stop.Token));
        await Proc.Until(() => Volatile.Read(ref fsxOps[0]) >= 100, "the fsx run to start", 60);
        await m.AddBrickAsync();
        int atSwitch = Volatile.Read(ref fsxOps[0]);
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
        await Proc.Until(() => Volatile.Read(ref fsxOps[0]) >= atSwitch + 300, "300 fsx ops after the switch", 120);
        stop.Cancel();
        Assert.True(await fsx.WaitAsync(TimeSpan.FromSeconds(60)) >= atSwitch + 300);

        for (int w = 0; w < writers; w++)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(d, $"log{w}"));
            var expected = Enumerable.Range(0, records).SelectMany(r => Workloads.Record(w, r)).ToArray();
            Assert.Equal(expected.Length, bytes.Length);
            Assert.True(expected.AsSpan().SequenceEqual(bytes), $"log{w} differs");
        }
        Assert.Equal(0, m.Counter("fdMigrationFailures"));
        Assert.True(m.Counter("switches") >= 1);
        // The heal comes with the new graph's first lookup of /live. The kernel caches the name for up to 30 s
        // (notified lifetimes) and is made to look it up again at the switch (or the next second's check at the
        // latest, docs/performance.md "Kernel cache timeouts"): a path lookup within a few seconds heals it.
        await Proc.Until(() => Directory.GetFileSystemEntries(d).Length > 0 && Directory.Exists(m.On(2, "/live")),
            "the directory to be healed onto the new brick by a lookup through the mount", 10);
    }

    [MountFact]
    public async Task A_listing_half_read_across_the_switch_returns_each_entry_once()
    {
        await using var m = await DistributedMount.StartAsync("dht-list", 2);
        var d = m.P("many");
        Directory.CreateDirectory(d);
        var pad = new string('x', 90);
        var names = Enumerable.Range(0, 1500).Select(i => $"{pad}{i:D4}").ToList();
        foreach (var n in names) File.Create(Path.Combine(d, n)).Dispose();
        var script = Path.Combine(m.Home, "list.py");
        var sig = Path.Combine(m.Home, "go");
        var output = Path.Combine(m.Home, "listed");
        await File.WriteAllTextAsync(script, """
            import os, sys, time
            d, sig, out = sys.argv[1:4]
            it = os.scandir(d)
            names = [next(it).name for _ in range(200)]
            open(out + '.half', 'w').close()
            deadline = time.time() + 60
            while not os.path.exists(sig) and time.time() < deadline: time.sleep(0.01)
            names += [e.name for e in it]
            open(out, 'w').write('\n'.join(names))
            """);
        var lister = Proc.RunAsync("python3", [script, d, sig, output], seconds: 90);
        await Proc.Until(() => File.Exists(output + ".half"), "the lister to read its first 200 entries", 30);
        await m.AddBrickAsync();
        await File.WriteAllTextAsync(sig, "");
        (await lister).Ok("lister");
        var listed = (await File.ReadAllTextAsync(output)).Split('\n');
        Assert.Equal(names.Count, listed.Length);
        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }

    [MountFact]
    public async Task After_fix_layout_new_names_in_old_directories_reach_the_new_brick_and_old_files_stay_readable()
    {
        // layout-refresh 0: the mount reads a layout again before every placement, so it sees the fix at once.
        await using var m = await DistributedMount.StartAsync("dht-fix", 2, "layout-refresh 0");
        var d = m.P("old");
        Directory.CreateDirectory(d);
        for (int i = 0; i < 40; i++) await File.WriteAllTextAsync(Path.Combine(d, $"f{i}"), $"{i}");
        await m.AddBrickAsync();
        for (int i = 0; i < 20; i++) await File.WriteAllTextAsync(Path.Combine(d, $"before{i}"), "x");
        // The old layout gives the new brick nothing. Its copy of the directory is made by the first
        // lookup by name that reaches it: here the kernel's LOOKUP of "old" once entry_timeout has passed,
        // else the fix-layout's walk. Under load the new graph may become active after subvolume-wait
        // with the new brick still connecting; that lookup then gets ENOTCONN from it and makes no copy
        // (harmless: no name hashes there until the fix-layout, which makes the copy first).
        Assert.Empty(Directory.Exists(m.On(2, "/old")) ? Directory.GetFiles(m.On(2, "/old")) : []);
        var r = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath, "--fix-layout");
        r.Ok("graft rebalance --fix-layout");
        Assert.Contains("rebalance: 0 moved, 0 skipped, 0 failed", r.Out);
        for (int i = 0; i < 60; i++) await File.WriteAllTextAsync(Path.Combine(d, $"after{i}"), "y");
        Assert.NotEmpty(Directory.GetFiles(m.On(2, "/old")));
        for (int i = 0; i < 40; i++) Assert.Equal($"{i}", await File.ReadAllTextAsync(Path.Combine(d, $"f{i}")));
        Assert.Equal(120, Directory.GetFiles(d).Length);
    }

    [MountFact]
    public async Task A_lock_held_across_the_switch_is_still_held_and_then_granted_to_the_waiter()
    {
        await using var m = await DistributedMount.StartAsync("dht-lock", 2);
        var f = m.P("locked");
        File.WriteAllText(f, "");
        await using var a = await LockProcess.StartAsync("A");
        await using var b = await LockProcess.StartAsync("B");
        await a.ExpectAsync($"open f {f} rw", "ok");
        await b.ExpectAsync($"open f {f} rw", "ok");
        await a.ExpectAsync("fcntl f setlk w 0 100", "ok");
        await m.AddBrickAsync();
        await b.ExpectAsync("fcntl f setlk w 50 10", "err EAGAIN");   // still A's, on the brick that holds the file
        await a.ExpectAsync("fcntl f setlk u 0 100", "ok");
        await b.ExpectAsync("fcntl f setlk w 50 10", "ok");
        Assert.Equal(0, m.Counter("locksLost"));
    }
}
