using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>A full rebalance after add-brick (three brick processes, then four), run a second time: it moves nothing and writes no layout.</summary>
public class ARebalanceRunTwice
{
    [MountFact]
    public async Task Moves_nothing_and_writes_no_layout_the_second_time()
    {
        await using var m = await DistributedMount.StartAsync("dht-rerun", 3);
        var files = await Workloads.WriteTreeAsync(m.Mnt, "/r", 40, seed: 7);
        await m.AddBrickAsync();

        var first = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath);
        Assert.True(first.Code == 0, first.Out + first.Err);
        Assert.Matches(@"rebalance: [1-9]\d* moved, 0 skipped, 0 failed\s*$", first.Out);
        var second = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath);
        Assert.True(second.Code == 0, second.Out + second.Err);
        Assert.Contains("fix-layout: 3 directories, 0 layouts written, 40 files seen", second.Out);
        Assert.EndsWith("rebalance: 0 moved, 0 skipped, 0 failed", second.Out.TrimEnd());

        await Workloads.AssertTreeAsync(m.Mnt, files);
        Moves.AssertSettledOnBricks(m, "/r", 4);
        Moves.AssertSettledOnBricks(m, "/r/s", 4);
    }
}

/// <summary>
/// SIGINT in the middle of a full rebalance: it stops between files (each move is slowed by a debug/faults
/// layer over the rebalance's own distribute, so the signal lands mid-run), exits 130 and says so; no move
/// is left half done and every file reads back; run again, it moves the rest and completes.
/// </summary>
public class AnInterruptedRebalance
{
    [MountFact]
    public async Task Exits_130_with_no_move_half_done_and_a_rerun_completes()
    {
        await using var m = await DistributedMount.StartAsync("dht-sigint", 3);
        var files = await Workloads.WriteTreeAsync(m.Mnt, "/r", 40, seed: 8);
        await m.AddBrickAsync();
        // The rebalance asks distribute to move each file with a setxattr on its directory: 1 s each, so the
        // ~10 moves leave the signal seconds to land even when a loaded machine is slow to deliver it (with
        // 300 ms each, one run at load 25 finished its walk before its SIGINT handler ran).
        var slow = m.WriteVolfile("slow.vol", m.Volfile() + "\nvolume slow\n    type debug/faults\n    option delay setxattr\n" +
                                              "    option delay-duration 1s\n    subvolumes dht\nend-volume\n");

        await using (var run = RebalanceProcess.Start(m.Home, slow, "--json"))
        {
            await Proc.Until(() => run.LastProgress() is { } p && p.GetProperty("moved").GetInt64() >= 1, "the rebalance to move a file", 60);
            run.Signal(2);
            var r = await run.WaitAsync(30);
            Assert.True(r.Code == 130, $"exit {r.Code}\n{r.Out}\n{r.Err}");
            Assert.Contains("interrupted: run graft rebalance again to finish", r.Out);
            Assert.Matches(@"rebalance: [1-9]\d* moved, 0 skipped, 0 failed\s*$", r.Out);
            Assert.True(run.LastProgress()!.Value.GetProperty("filesScanned").GetInt64() < files.Count, "the run was not interrupted before its end:\n" + r.Out);
        }
        // Files not reached yet are where they were; none is half moved.
        var names = files.Keys.Select(k => k[(k.LastIndexOf('/') + 1)..]).ToList();
        Moves.AssertSettledOnBricks(m, "/r", 4, allowedElsewhere: names);
        Moves.AssertSettledOnBricks(m, "/r/s", 4, allowedElsewhere: names);
        await Workloads.AssertTreeAsync(m.Mnt, files);

        var again = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath);
        Assert.True(again.Code == 0, again.Out + again.Err);
        Assert.Matches(@"rebalance: [1-9]\d* moved, 0 skipped, 0 failed\s*$", again.Out);
        Moves.AssertSettledOnBricks(m, "/r", 4);
        Moves.AssertSettledOnBricks(m, "/r/s", 4);
        await Workloads.AssertTreeAsync(m.Mnt, files);
    }
}

/// <summary>
/// `graft rebalance --remove` under a mount: the brick listed as decommissioned (the mount applies that in
/// place) is drained — its directory holds no file of the volume afterwards — and the mount, switched to a
/// volfile without it, sees every file intact.
/// </summary>
public class DrainingABrickUnderAMount
{
    [MountFact]
    public async Task The_brick_holds_no_data_after_and_a_mount_without_it_sees_every_file()
    {
        await using var m = await DistributedMount.StartAsync("dht-drain", 3);
        var files = await Workloads.WriteTreeAsync(m.Mnt, "/r", 40, seed: 9);
        Assert.NotEmpty(Moves.DataFilesOn(m.BrickDirs[1]));
        await m.ApplyVolfileAsync(m.Volfile(null, "decommissioned b1"));

        var r = await Proc.Graft(m.Home, "rebalance", "--volfile", m.VolfilePath, "--remove", "b1");
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Contains("drained: b1 holds no file of the volume", r.Out);
        Assert.Matches(@"rebalance: [1-9]\d* moved, 0 skipped, 0 failed\s*$", r.Out);
        Assert.Empty(Moves.DataFilesOn(m.BrickDirs[1]));

        await m.ApplyVolfileAsync(m.Volfile([0, 2], null));
        await Workloads.AssertTreeAsync(m.Mnt, files);
        // And new names go to the bricks that are left.
        await File.WriteAllTextAsync(m.P("r", "after"), "after\n");
        Assert.Equal("after\n", await File.ReadAllTextAsync(m.P("r", "after")));
    }
}
