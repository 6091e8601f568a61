using Graft.Core;

namespace Graft.Core.Tests.Graphs;

/// <summary>CHILD_UP travels from the leaves to the top and completes Graph.ChildUp.</summary>
public class ChildUpReachesTheTop
{
    [Fact]
    public async Task A_leaf_answers_parent_up_and_child_up_climbs_to_the_top()
    {
        var log = new EventLog();
        var g = GraphBuilder.Build(TestXlators.Chain.Replace("debug/passthrough", "test/cache"), "c.vol", TestXlators.Registry(log), 1);
        Assert.False(g.ChildUp.IsCompleted);

        Assert.True(await g.StartAndWaitAsync(TestXlators.Bound, CancellationToken.None));

        Assert.True(g.IsChildUp);
        var e = log.Entries;
        Assert.Equal([
            "top: ParentUp from graph", "cache: ParentUp from top", "store: ParentUp from cache",
            "cache: ChildUp from store", "top: ChildUp from cache",
        ], e);
    }

    [Fact]
    public async Task Child_up_passes_through_a_translator_that_overrides_nothing()
    {
        var g = GraphBuilder.Build(TestXlators.Chain, "c.vol", TestXlators.Registry(), 1); // top is debug/passthrough
        var seen = new List<GraphEvent>();
        g.TopEvent += seen.Add;
        Assert.True(await g.StartAndWaitAsync(TestXlators.Bound, CancellationToken.None));
        Assert.Equal([GraphEvent.ChildUp], seen);
    }

    [Fact]
    public void Child_down_clears_is_child_up()
    {
        var g = GraphBuilder.Build(TestXlators.Chain, "c.vol", TestXlators.Registry(), 1);
        g.Start();
        Assert.True(g.IsChildUp);
        g.Find("store")!.Notify(GraphEvent.ChildDown, null);
        Assert.False(g.IsChildUp);
    }

    private sealed class SilentLeaf : Translator
    {
        public override void Notify(GraphEvent ev, Translator? from) { } // never comes up
    }

    [Fact]
    public async Task Waiting_for_child_up_is_bounded()
    {
        var spec = new XlatorSpec("test/silent", () => new SilentLeaf(), [], "never up") { MinChildren = 0, MaxChildren = 0 };
        var g = Graph.Linear(1, (spec, "silent", null));
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Assert.False(g.IsChildUp);
    }
}

/// <summary>
/// PARENT_DOWN travels down, each translator draining before passing it on; PARENT_DOWN_HANDLED
/// reaches the top only after every translator below has answered.
/// </summary>
public class ParentDownDrainsTheGraphTopDown
{
    private const string Tree = """
        volume b1
            type test/leaf
            option directory /1
        end-volume
        volume b2
            type test/leaf
            option directory /2
        end-volume
        volume slow
            type test/cache
            subvolumes b2
        end-volume
        volume top
            type test/cluster
            subvolumes b1 slow
        end-volume
        """;

    [Fact]
    public async Task Handled_reaches_the_top_only_after_a_slow_drain_below_finishes()
    {
        var log = new EventLog();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask Drain(string name)
        {
            if (name != "slow") return;
            slowStarted.SetResult();
            await gate.Task;
        }
        var g = GraphBuilder.Build(Tree, "t.vol", TestXlators.Registry(log, Drain), 1);
        await g.StartAndWaitAsync(TestXlators.Bound, CancellationToken.None);

        g.SendParentDown();
        await slowStarted.Task.WaitAsync(TestXlators.Bound);

        // b1 is done, slow is draining: b2 has not even been told, and the top has no answer.
        Assert.Contains("b1: drain end", log.Entries);
        Assert.Contains("top: ParentDownHandled from b1", log.Entries);
        Assert.DoesNotContain(log.Entries, e => e.StartsWith("b2: ParentDown"));
        Assert.False(g.ParentDownHandled.IsCompleted);

        gate.SetResult();
        await g.ParentDownHandled.WaitAsync(TestXlators.Bound);

        var e = log.Entries.ToList();
        Assert.True(e.IndexOf("top: drain end") < e.IndexOf("slow: ParentDown from top"));
        Assert.True(e.IndexOf("slow: drain end") < e.IndexOf("b2: ParentDown from slow"));
        Assert.True(e.IndexOf("b2: drain end") < e.IndexOf("slow: ParentDownHandled from b2"));
        Assert.True(e.IndexOf("slow: ParentDownHandled from b2") < e.IndexOf("top: ParentDownHandled from slow"));
        Assert.Equal(1, e.Count(x => x == "top: ParentDownHandled from slow"));
        // every translator drained exactly once
        foreach (var name in new[] { "top", "b1", "slow", "b2" })
            Assert.Equal(1, e.Count(x => x == $"{name}: drain end"));
    }

    [Fact]
    public async Task Sending_parent_down_twice_drains_once()
    {
        var log = new EventLog();
        var g = GraphBuilder.Build(Tree, "t.vol", TestXlators.Registry(log), 1);
        g.SendParentDown();
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TestXlators.Bound);
        Assert.Equal(1, log.Entries.Count(x => x == "top: drain start"));
    }

    [Fact]
    public async Task A_shared_child_drains_only_after_all_its_parents()
    {
        var log = new EventLog();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rightDraining = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask Drain(string name)
        {
            if (name != "right") return;
            rightDraining.SetResult();
            await gate.Task;
        }
        var g = GraphBuilder.Build(TestXlators.Dag, "dag.vol", TestXlators.Registry(log, Drain), 1);

        g.SendParentDown();
        await rightDraining.Task.WaitAsync(TestXlators.Bound);
        // left has passed PARENT_DOWN to store, but right still uses it: store must not drain yet.
        Assert.Contains("store: ParentDown from left", log.Entries);
        Assert.DoesNotContain("store: drain start", log.Entries);
        // a repeated PARENT_DOWN from the same parent does not count as the other parent's
        g.Find("store")!.Notify(GraphEvent.ParentDown, g.Find("left"));
        Assert.DoesNotContain("store: drain start", log.Entries);
        Assert.False(g.ParentDownHandled.IsCompleted);

        gate.SetResult();
        await g.ParentDownHandled.WaitAsync(TestXlators.Bound);
        var e = log.Entries.ToList();
        Assert.True(e.IndexOf("right: drain end") < e.IndexOf("store: drain start"));
        Assert.Contains("left: ParentDownHandled from store", e);
        Assert.Contains("right: ParentDownHandled from store", e);
        Assert.Equal(1, e.Count(x => x == "store: drain start"));
    }

    [Fact]
    public async Task A_failing_drain_is_logged_and_does_not_stop_retirement()
    {
        static ValueTask Drain(string name) => name == "slow" ? throw new InvalidOperationException("boom") : ValueTask.CompletedTask;
        var log = new EventLog();
        var g = GraphBuilder.Build(Tree, "t.vol", TestXlators.Registry(log, Drain), 1);
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TestXlators.Bound);
        Assert.Contains("b2: drain end", log.Entries);
    }

    private sealed class Throwing : Translator
    {
        public override void Notify(GraphEvent ev, Translator? from)
        {
            if (ev == GraphEvent.ParentDown) throw new InvalidOperationException("buggy translator");
            base.Notify(ev, from);
        }
    }

    [Fact]
    public async Task A_translator_that_throws_in_notify_does_not_keep_the_event_from_its_siblings()
    {
        var log = new EventLog();
        var registry = TestXlators.Registry(log);
        registry.Register(new XlatorSpec("test/throwing", () => new Throwing(), [], "throws") { MinChildren = 0, MaxChildren = 0 });
        var g = GraphBuilder.Build("""
            volume bad
                type test/throwing
            end-volume
            volume good
                type test/leaf
                option directory /g
            end-volume
            volume top
                type test/cluster
                subvolumes bad good
            end-volume
            """, "x.vol", registry, 1);

        g.SendParentDown();
        // the sibling after the throwing child still drains and answers
        Assert.Contains("good: drain end", log.Entries);
        Assert.Contains("top: ParentDownHandled from good", log.Entries);
        // the throwing child never answers, so the top has no answer: the caller's bound handles that
        Assert.False(g.ParentDownHandled.IsCompleted);
        await Task.CompletedTask;
    }
}

/// <summary>Graph.WhenUp is a signal per up period: completed while the top is up, a new one after each CHILD_DOWN, completed by the next CHILD_UP.</summary>
public class WhenUpSignalsEachReconnect
{
    [Fact]
    public void Each_child_down_starts_a_new_signal_that_the_next_child_up_completes()
    {
        var g = GraphBuilder.Build(TestXlators.Chain, "c.vol", TestXlators.Registry(), 1);
        Assert.False(g.WhenUp.IsCompleted);
        g.Start();
        Assert.True(g.WhenUp.IsCompleted);
        var store = g.Find("store")!;
        for (int round = 0; round < 2; round++)
        {
            store.Notify(GraphEvent.ChildDown, null);
            var waiting = g.WhenUp;
            Assert.False(waiting.IsCompleted);
            store.Notify(GraphEvent.ChildDown, null); // a second down in the same period keeps the same signal
            Assert.Same(waiting, g.WhenUp);
            store.Notify(GraphEvent.ChildUp, null);
            Assert.True(waiting.IsCompletedSuccessfully);
            Assert.True(g.WhenUp.IsCompleted);
        }
    }
}
