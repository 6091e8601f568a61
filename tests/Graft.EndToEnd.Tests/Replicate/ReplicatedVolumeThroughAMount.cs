using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// A mount of three brick processes under cluster/replicate: O_APPEND writers that fsync every
/// record and an fsx run go on with no error while one brick is killed with SIGKILL and started
/// again; creates, unlinks, renames (of files, and of directories with files in them, in their parent
/// and to another) and chmods are made while it is down; every byte is there
/// afterwards; `graft heal` heals the brick that missed it all, and the three brick directories
/// are then identical, data and metadata.
/// </summary>
public class WritersGoOnWhileABrickIsKilled
{
    [MountFact]
    public async Task No_writer_sees_an_error_no_acknowledged_byte_is_lost_and_the_heal_makes_the_bricks_identical()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-kill", 3, "", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        var d = m.P("d");
        Directory.CreateDirectory(d);
        using var stop = new CancellationTokenSource();
        var counts = new int[2];
        var appenders = Enumerable.Range(0, 2).Select(w => Workloads.AppendRecordsAsync(Path.Combine(d, $"log{w}"), w, counts, stop.Token)).ToList();
        var fsxOps = new int[1];
        var fsx = Task.Run(() => Workloads.FsxRun(Path.Combine(d, "fsx"), fsxOps, stop.Token));
        Task[] all = [.. appenders, fsx];
        string Faults() => string.Join("\n", all.Where(t => t.IsFaulted).Select(t => t.Exception!.ToString()));

        async Task GoOn(string when, int more)
        {
            var then = counts.ToArray();
            int fsxThen = Volatile.Read(ref fsxOps[0]);
            await Proc.Until(() => all.Any(t => t.IsFaulted) || counts.Zip(then).All(p => p.First >= p.Second + more) && Volatile.Read(ref fsxOps[0]) >= fsxThen + more,
                             $"writers to go on {when}", 90);
            Assert.False(all.Any(t => t.IsFaulted), Faults() + "\n" + m.Logs());
        }

        await GoOn("before the kill", 20);
        var t = m.P("t");
        Directory.CreateDirectory(t);
        await File.WriteAllTextAsync(Path.Combine(t, "old"), "old");
        await File.WriteAllTextAsync(Path.Combine(t, "gone"), "gone");
        await File.WriteAllTextAsync(Path.Combine(t, "mode"), "mode");
        Directory.CreateDirectory(Path.Combine(t, "dir", "in"));
        await File.WriteAllTextAsync(Path.Combine(t, "dir", "in", "x"), "x");
        Directory.CreateDirectory(Path.Combine(t, "dir2"));
        await File.WriteAllTextAsync(Path.Combine(t, "dir2", "y"), "y");
        await m.KillBrickAsync(1);
        await GoOn("with brick 1 killed", 20);
        // Namespace and attribute changes while it is down.
        await File.WriteAllTextAsync(Path.Combine(t, "new"), "new");
        Directory.CreateDirectory(Path.Combine(t, "sub"));
        await File.WriteAllTextAsync(Path.Combine(t, "sub", "deep"), "deep");
        File.Move(Path.Combine(t, "old"), Path.Combine(t, "renamed"));
        File.Delete(Path.Combine(t, "gone"));
        File.SetUnixFileMode(Path.Combine(t, "mode"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Directory.Move(Path.Combine(t, "dir"), Path.Combine(t, "dirmoved"));
        Directory.Move(Path.Combine(t, "dir2"), m.P("dir2moved"));
        await m.RestartBrickAsync(1);
        await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == 3, "the mount to see brick 1 again", 60);
        await GoOn("after brick 1 came back", 20);
        stop.Cancel();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(60));

        for (int w = 0; w < 2; w++)
            Assert.Equal(Workloads.Records(w, counts[w]), await File.ReadAllBytesAsync(Path.Combine(d, $"log{w}")));
        // Brick 1 missed records: the others blame it for the file's data; they do not blame each other.
        Assert.Equal(0, Pending.Read(Syscall.Getxattr(m.On(0, "/d/log0"), Pending.NameFor("b2")), Pending.Data));

        var info = await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info");
        var want = await m.HealAndCompareBricksAsync($"--info said:\n{info.Out}");
        // A healed file has its source's times; one written on every copy has each brick's own, a moment apart.
        Assert.InRange(Bricks.MtimeSpread(m.BrickDirs[0], m.BrickDirs[1]), 0, 5);
        Assert.InRange(Bricks.MtimeSpread(m.BrickDirs[0], m.BrickDirs[2]), 0, 5);
        Assert.Contains("t/renamed", want);
        Assert.DoesNotContain("t/gone", want);
        // Directories renamed while it was down are where the others have them, with their files, and only there.
        Assert.Contains("t/dirmoved/in/x ", want);
        Assert.Contains("dir2moved/y ", want);
        Assert.DoesNotContain("t/dir/", want);
        Assert.DoesNotContain("t/dir2", want);
        Assert.Matches(@"heal: 0 healed, 0 pending, 0 split-brain\s*$", (await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info")).Ok("heal --info after the heal").Out);
    }
}

/// <summary>With two of three bricks gone the volume has no quorum: writes and creates fail with EROFS, reads are served by the brick that is left.</summary>
public class TwoBricksDownRefuseChanges
{
    [MountFact]
    public async Task Writes_are_read_only_file_system_and_reads_go_on()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-quorum", 3, "", "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        var f = m.P("kept");
        await File.WriteAllTextAsync(f, "kept");
        await m.KillBrickAsync(1);
        await m.KillBrickAsync(2);
        await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == 1, "the mount to see two bricks gone", 30);
        var e = Assert.ThrowsAny<IOException>(() => File.AppendAllText(f, "more"));
        Assert.Contains("Read-only file system", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(m.P("new"), "x"));
        Assert.Equal("kept", await File.ReadAllTextAsync(f));
        Assert.False(File.Exists(m.On(0, "/new")));
    }
}

/// <summary>
/// A split brain made the way it happens (two copies, no quorum, each brick down while the other
/// took a write): that file answers EIO through the mount, its neighbours are read as usual,
/// `graft heal --info` lists it, a heal pass leaves it alone, and --split-brain-source resolves it.
/// </summary>
public class ASplitBrainAnswersEio
{
    [MountFact]
    public async Task That_file_only_listed_by_info_and_resolved_by_naming_a_source()
    {
        await using var m = await DistributedMount.StartReplicatedAsync("afr-split", 2, "quorum-type none; self-heal off",
                                                                        "entry_timeout=0", "attr_timeout=0", "negative_timeout=0");
        await File.WriteAllTextAsync(m.P("sb"), "same");
        await File.WriteAllTextAsync(m.P("ok"), "fine");
        async Task Up(int n) => await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == n, $"{n} bricks up in the mount", 60);
        // A write window ends with the release the kernel sends after close() returns: a brick killed before it would keep
        // its copy's count of the window (dirty, listed by --info until healed), though it has every write.
        async Task Closed() => await Proc.Until(() => m.TranslatorCounter("dht", "openWindows") == 0, "the write windows closed", 30);
        await Closed();
        await m.KillBrickAsync(1);
        await Up(1);
        await File.AppendAllTextAsync(m.P("sb"), "+b0");
        await m.RestartBrickAsync(1);
        await Up(2);
        await Closed();
        await m.KillBrickAsync(0);
        await Up(1);
        await File.AppendAllTextAsync(m.P("sb"), "+b1");
        await m.RestartBrickAsync(0);
        await Up(2);
        Assert.Equal("same+b0", File.ReadAllText(m.On(0, "/sb")));
        Assert.Equal("same+b1", File.ReadAllText(m.On(1, "/sb")));

        var e = Assert.ThrowsAny<IOException>(() => File.ReadAllText(m.P("sb")));
        Assert.Contains("Input/output error", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("fine", await File.ReadAllTextAsync(m.P("ok")));

        var info = await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info");
        Assert.True(info.Code == 1, info.Out + info.Err);
        Assert.Contains("split-brain: /sb", info.Out);
        Assert.DoesNotContain("/ok", info.Out);
        Assert.Matches(@"heal: 0 healed, 0 pending, 1 split-brain\s*$", info.Out);
        var pass = await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath);
        Assert.Equal(1, pass.Code);
        Assert.Equal("same+b0", File.ReadAllText(m.On(0, "/sb")));
        (await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--split-brain-source", "b1", "/sb")).Ok("heal --split-brain-source");
        Assert.Equal("same+b1", File.ReadAllText(m.On(0, "/sb")));
        Assert.Equal("same+b1", await File.ReadAllTextAsync(m.P("sb")));
        Assert.Matches(@"heal: 0 healed, 0 pending, 0 split-brain\s*$",
                       (await Proc.Graft(m.Home, "heal", "--volfile", m.VolfilePath, "--info")).Ok("heal --info once the split brain was resolved").Out);
    }
}
