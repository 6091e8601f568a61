using Graft.Core;

namespace Graft.Mount.Tests.Rooms;

/// <summary>
/// An old graph is destroyed as soon as the last handle that points into it has moved or let go
/// (the last hint out signals it). The sweep is held off for an hour and the retirement bound is
/// out of reach, so nothing else could end it.
/// </summary>
public class AnOldGraphRetiresWhenItsLastHandleLeaves
{
    private static readonly TimeSpan NoSweep = TimeSpan.FromHours(1);

    [Fact]
    public async Task Moving_the_open_file_and_the_nodes_destroys_it()
    {
        await using var t = await SwitchingSession.StartAsync(NoSweep);
        var s = t.Session;
        var c = TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        TestSession.Ok(await s.WriteAsync(t.Ctx, c.File, "abc"u8.ToArray(), 0));
        var old = await t.SwitchAsync();
        Assert.Equal(3, old.Hints); // the root, the file's node, the open file

        TestSession.Ok(await s.GetattrAsync(t.Ctx, c.File)); // moves the file, and its node on the way
        Assert.Same(s.ActiveGraph, c.File.Fd.Graph);
        Assert.Equal(1, old.Hints);
        Assert.False(old.Idle.IsCompleted, "the root still points into the old graph");
        Assert.Equal(GraphState.Draining, old.State);

        TestSession.Ok(await s.GetattrAsync(t.Ctx, s.Root));
        await old.Destroyed.WaitAsync(SwitchingSession.Bound);
        Assert.DoesNotContain(old, s.Graphs);
        var counters = s.GetState().Counters;
        Assert.Equal(1, counters.GraphsDestroyed);
        Assert.Equal(0, counters.RetirementsForced);
        Assert.Equal(0, counters.HandlesSwept);
    }

    [Fact]
    public async Task Forgetting_the_last_node_on_it_destroys_it()
    {
        await using var t = await SwitchingSession.StartAsync(NoSweep);
        var s = t.Session;
        var c = TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        await s.ReleaseAsync(c.File);
        var old = await t.SwitchAsync();
        TestSession.Ok(await s.GetattrAsync(t.Ctx, s.Root));
        Assert.Equal(1, old.Hints);
        Assert.False(old.Idle.IsCompleted, "the file's node still points into the old graph");

        s.Forget(c.Node, 1);
        await old.Destroyed.WaitAsync(SwitchingSession.Bound);
        Assert.Equal(0, s.GetState().Counters.RetirementsForced);
    }
}

/// <summary>
/// The sweep moves handles nobody uses to the active graph, and the old graph goes as soon as they
/// have moved; a node whose file is gone from the volume cannot move and stops holding it.
/// </summary>
public class TheSweepMovesIdleHandlesAndRetiresTheOldGraph
{
    [Fact]
    public async Task Idle_files_and_nodes_move_and_the_old_graph_is_destroyed()
    {
        await using var t = await SwitchingSession.StartAsync(sweepDelay: TimeSpan.Zero);
        var s = t.Session;
        var files = new List<MountFile>();
        for (int i = 0; i < 5; i++)
            files.Add(TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, $"f{i}", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0)).File);
        var old = await t.SwitchAsync();

        await old.Destroyed.WaitAsync(SwitchingSession.Bound);
        Assert.All(files, f => Assert.Same(s.ActiveGraph, f.Fd.Graph));
        Assert.Same(s.ActiveGraph, s.Root.Inode.Graph);
        var counters = s.GetState().Counters;
        Assert.Equal(6, counters.HandlesSwept); // 5 files (each move takes its node along) and the root
        Assert.Equal(0, counters.RetirementsForced);
    }

    [Fact]
    public async Task A_node_whose_file_is_gone_stops_holding_the_old_graph()
    {
        await using var t = await SwitchingSession.StartAsync(sweepDelay: TimeSpan.Zero);
        var s = t.Session;
        var c = TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, "gone", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        await s.ReleaseAsync(c.File);
        Assert.Equal(Errno.OK, await s.UnlinkAsync(t.Ctx, s.Root, "gone")); // the front end still holds the node
        var old = await t.SwitchAsync();

        await old.Destroyed.WaitAsync(SwitchingSession.Bound);
        Assert.Equal(0, s.GetState().Counters.RetirementsForced);
        Assert.Contains((await s.GetattrAsync(t.Ctx, c.Node)).Error, new[] { Errno.ENOENT, Errno.ESTALE });
    }
}
