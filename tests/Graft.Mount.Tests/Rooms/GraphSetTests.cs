using System.Threading.Channels;
using Graft.Core;
using Graft.Xlators.Debug;

namespace Graft.Mount.Tests.Rooms;

/// <summary>Graphs for the GraphSet tests: a passthrough over an in-memory brick, started.</summary>
internal static class Graphs
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static async Task<Graph> StartedAsync(long generation)
    {
        var g = Graph.Linear(generation, (MemoryBrick.Spec, "mem", null), (Passthrough.Spec, "p", null));
        Assert.True(await g.StartAndWaitAsync(Bound, CancellationToken.None), "graph did not come up");
        return g;
    }

    /// <summary>A set whose active graph is generation 1 and whose generation 2 is switched to.</summary>
    public static async Task<(GraphSet Set, Graph Old, Graph New, ChannelReader<IHandle> Sweep)> SwitchedAsync()
    {
        var set = new GraphSet(await StartedAsync(1));
        var old = set.Active;
        var g = await StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        Assert.True(set.TryActivate(g, out var was, out var sweep));
        Assert.Same(old, was);
        return (set, old, g, sweep);
    }

    /// <summary>A stand-in for a node or open file: the set only keeps it to hand it to a sweep.</summary>
    public sealed class Holder : IHandle
    {
        public ulong HandleId { get; set; }
    }
}

/// <summary>Entering counts a fop on the active graph for as long as the lease is held, and allocates nothing.</summary>
public class EnteringTakesALeaseOnTheActiveGraph
{
    [Fact]
    public async Task The_lease_counts_one_fop_until_it_is_disposed()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var lease = set.Enter();
        Assert.Same(set.Active, lease.Graph);
        Assert.Equal(1, lease.Graph.FopsInFlight);
        lease.Dispose();
        Assert.Equal(0, set.Active.FopsInFlight);
    }

    [Fact]
    public async Task Entering_and_leaving_allocates_nothing()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        for (int i = 0; i < 100; i++) set.Enter().Dispose(); // JIT, tiering
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            using var lease = set.Enter();
            using var held = GraphSet.Hold(lease.Graph);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task A_closed_set_lets_nothing_enter()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var all = set.Close();
        Assert.Single(all);
        Assert.Equal(GraphState.Draining, all[0].State);
        Assert.Throws<ObjectDisposedException>(() => set.Enter());
    }
}

/// <summary>
/// A switch publishes the pending graph and starts draining the old one; only the set changes states,
/// and a superseded graph never becomes active.
/// </summary>
public class ASwitchPublishesTheNewGraphAndDrainsTheOld
{
    [Fact]
    public async Task New_fops_enter_the_new_graph_and_the_old_one_drains()
    {
        var (set, old, g, _) = await Graphs.SwitchedAsync();
        Assert.Equal(GraphState.Active, g.State);
        Assert.Equal(GraphState.Draining, old.State);
        Assert.True(set.HasRetiring);
        using var lease = set.Enter();
        Assert.Same(g, lease.Graph);
        Assert.Equal(0, old.FopsInFlight);
    }

    [Fact]
    public async Task A_superseded_pending_graph_is_not_activated()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var active = set.Active;
        var g = await Graphs.StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        var (taken, cancel) = set.TakePending();
        Assert.Same(g, taken);
        cancel!.Dispose();
        Assert.False(set.TryActivate(g, out _, out _));
        Assert.Same(active, set.Active);
        Assert.Equal(GraphState.Starting, g.State);
        Assert.False(set.HasRetiring);
    }

    [Fact]
    public async Task A_destroyed_old_graph_leaves_the_set()
    {
        var (set, old, g, _) = await Graphs.SwitchedAsync();
        Assert.True(await set.DrainAndDestroyAsync(old, Graphs.Bound));
        Assert.Equal(GraphState.Destroyed, old.State);
        Assert.Equal([g], set.All);
        Assert.False(set.HasRetiring);
    }
}

/// <summary>
/// A retiring graph is held by fops in flight and by hints; whichever leaves last signals it idle at
/// that moment (no one polls), and not a moment before.
/// </summary>
public class ARetiringGraphSignalsIdleWhenTheLastHolderLeaves
{
    [Fact]
    public async Task The_last_fop_out_signals_it()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var first = set.Enter();
        var second = set.Enter();
        var g = await Graphs.StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        Assert.True(set.TryActivate(g, out var old, out _));
        first.Dispose();
        Assert.False(old.Idle.IsCompleted);
        second.Dispose();
        Assert.True(old.Idle.IsCompleted); // signalled by the exit itself
    }

    [Fact]
    public async Task The_last_hint_dropped_signals_it()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var active = set.Active;
        set.AddHint(active, new Graphs.Holder());
        set.AddHint(active, new Graphs.Holder());
        var g = await Graphs.StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        Assert.True(set.TryActivate(g, out var old, out _));
        GraphSet.DropHint(old);
        Assert.False(old.Idle.IsCompleted);
        using (GraphSet.Hold(old))
        {
            GraphSet.DropHint(old);
            Assert.False(old.Idle.IsCompleted); // a fop still runs there
        }
        Assert.True(old.Idle.IsCompleted);
    }

    [Fact]
    public async Task A_graph_that_nothing_holds_is_idle_as_soon_as_it_drains()
    {
        var (_, old, _, _) = await Graphs.SwitchedAsync();
        Assert.True(old.Idle.IsCompleted);
    }

    [Fact]
    public async Task The_active_graph_is_never_idle()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        set.AddHint(set.Active, new Graphs.Holder());
        GraphSet.DropHint(set.Active);
        set.Enter().Dispose();
        Assert.False(set.Active.Idle.IsCompleted);
    }

    [Fact]
    public async Task Racing_exits_and_the_switch_always_signal_once_all_have_left()
    {
        for (int round = 0; round < 200; round++)
        {
            var set = new GraphSet(await Graphs.StartedAsync(1));
            var g = await Graphs.StartedAsync(set.NextGeneration());
            set.AddPending(g, new CancellationTokenSource());
            var leases = Enumerable.Range(0, 4).Select(_ => set.Enter()).ToArray();
            var old = leases[0].Graph;
            using var go = new ManualResetEventSlim();
            var exits = leases.Select(l => Task.Run(() => { go.Wait(); l.Dispose(); })).ToArray();
            var sw = Task.Run(() => { go.Wait(); Assert.True(set.TryActivate(g, out _, out _)); });
            go.Set();
            await Task.WhenAll([.. exits, sw]).WaitAsync(Graphs.Bound);
            Assert.True(old.Idle.IsCompleted, $"round {round}: every holder left a draining graph, and it was not signalled");
        }
    }
}

/// <summary>A handle that takes a hint on a graph that is no longer active is queued for that graph's sweep; on the active graph it is not.</summary>
public class HintsTakenOnARetiringGraphAreQueuedForItsSweep
{
    [Fact]
    public async Task Only_late_hints_are_queued()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var before = new Graphs.Holder();
        set.AddHint(set.Active, before);
        var g = await Graphs.StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        Assert.True(set.TryActivate(g, out var old, out var sweep));
        var late = new Graphs.Holder();
        set.AddHint(old, late);
        set.AddHint(g, new Graphs.Holder()); // the active graph: nothing to sweep
        Assert.True(sweep.TryRead(out var queued));
        Assert.Same(late, queued);
        Assert.False(sweep.TryRead(out _));
        Assert.Equal(2, old.Hints);
    }
}

/// <summary>
/// NextSwitch completes when a newer graph is published as active, and not before: what a lock wait or a
/// reclaim waiting on the active graph wakes on to follow the switch.
/// </summary>
public class NextSwitchSignalsThePublishOfANewActiveGraph
{
    [Fact]
    public async Task It_completes_at_the_switch_with_the_new_graph_already_active()
    {
        var set = new GraphSet(await Graphs.StartedAsync(1));
        var next = set.NextSwitch;
        var g = await Graphs.StartedAsync(set.NextGeneration());
        set.AddPending(g, new CancellationTokenSource());
        Assert.False(next.IsCompleted); // a pending graph is no switch
        Assert.True(set.TryActivate(g, out _, out _));
        await next.WaitAsync(Graphs.Bound);
        Assert.Same(g, set.Active);
        Assert.False(set.NextSwitch.IsCompleted); // a new signal for the next one
    }
}
