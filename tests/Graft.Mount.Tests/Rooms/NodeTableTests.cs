using Graft.Core;

namespace Graft.Mount.Tests.Rooms;

/// <summary>
/// A node's inode miss (NodeTable): on a newer graph the node looks its GFID up without a name and
/// adopts that graph's inode — its hint moves and the old graph's goes — once per node per graph.
/// </summary>
public class ANodeMissAdoptsTheNewGraphsInode
{
    private static readonly TimeSpan NoSweep = TimeSpan.FromHours(1);

    [Fact]
    public async Task The_first_use_after_a_switch_moves_the_node_and_the_second_is_a_hit()
    {
        await using var t = await SwitchingSession.StartAsync(NoSweep);
        var s = t.Session;
        var node = (await t.CreateClosedAsync("f")).Node;
        var old = await t.SwitchAsync();
        var misses = s.GetState().Counters.InodeMisses;

        var r = await s.Nodes.ResolveAsync(t.Ctx, node, s.ActiveGraph);
        Assert.True(r.Ok);
        Assert.Same(s.ActiveGraph, node.Inode.Graph);
        Assert.Same(s.ActiveGraph, node.HintGraph);
        Assert.Same(node.Inode, r.Value);
        Assert.Equal(1, old.Hints); // only the root is left there
        Assert.Equal(misses + 1, s.GetState().Counters.InodeMisses);

        Assert.True((await s.Nodes.ResolveAsync(t.Ctx, node, s.ActiveGraph)).Ok);
        Assert.Equal(misses + 1, s.GetState().Counters.InodeMisses); // a hit: no lookup
    }

    [Fact]
    public async Task A_node_never_moves_back_to_an_older_graphs_inode()
    {
        await using var t = await SwitchingSession.StartAsync(NoSweep);
        var s = t.Session;
        var node = (await t.CreateClosedAsync("f")).Node;
        var oldInode = node.Inode;
        await t.SwitchAsync();
        Assert.True((await s.Nodes.ResolveAsync(t.Ctx, node, s.ActiveGraph)).Ok);
        var current = node.Inode;

        // A fop that entered the old graph before the switch resolves there: it gets the old inode
        // for itself, the node keeps the new one.
        Assert.Same(current, s.Nodes.Adopt(node, oldInode));
        Assert.Same(current, node.Inode);
        Assert.Same(s.ActiveGraph, node.HintGraph);
    }

    [Fact]
    public async Task A_forgotten_node_adopts_nothing()
    {
        await using var t = await SwitchingSession.StartAsync(NoSweep);
        var s = t.Session;
        var node = (await t.CreateClosedAsync("f")).Node;
        var inode = node.Inode;
        var old = await t.SwitchAsync();
        s.Forget(node, 1);
        Assert.Null(node.HintGraph);

        var r = await s.Nodes.ResolveAsync(t.Ctx, node, s.ActiveGraph); // a fop still holding it
        Assert.True(r.Ok);
        Assert.Same(s.ActiveGraph, r.Value.Graph); // it gets the new graph's inode for itself...
        Assert.Same(inode, node.Inode);            // ...but the node stays, and holds no graph
        Assert.Null(node.HintGraph);
        Assert.Equal(1, old.Hints); // the root
    }
}
