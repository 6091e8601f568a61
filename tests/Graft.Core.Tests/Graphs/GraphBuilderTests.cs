using Graft.Core;

namespace Graft.Core.Tests.Graphs;

/// <summary>A volfile becomes a graph: translators made by their type, wired, ordered bottom-up.</summary>
public class GraphsAreBuiltFromVolfiles
{
    [Fact]
    public void A_chain_is_ordered_bottom_up_with_the_top_last()
    {
        var g = GraphBuilder.Build(TestXlators.Chain, "chain.vol", TestXlators.Registry(), generation: 7);

        Assert.Equal(7, g.Generation);
        Assert.Equal(["store", "cache", "top"], g.Translators.Select(t => t.Name));
        Assert.Same(g.Find("top"), g.Top);
        Assert.Equal(["test/leaf", "test/cache", "debug/passthrough"], g.Translators.Select(t => t.Type));
        Assert.IsType<Graft.Xlators.Debug.Passthrough>(g.Top);
        Assert.IsType<TestXlators.Recorder>(g.Find("store"));
        for (int i = 0; i < g.Translators.Count; i++)
        {
            Assert.Equal(i, g.Translators[i].Index);
            Assert.Same(g, g.Translators[i].Graph);
        }
        Assert.Equal(TestXlators.Chain, g.VolfileText);
    }

    [Fact]
    public void Parents_and_children_are_wired_as_written()
    {
        var g = GraphBuilder.Build(TestXlators.Chain, "chain.vol", TestXlators.Registry(), 1);
        var (store, cache, top) = (g.Find("store")!, g.Find("cache")!, g.Find("top")!);

        Assert.Equal([cache], top.Children);
        Assert.Empty(top.Parents);
        Assert.Equal([store], cache.Children);
        Assert.Equal([top], cache.Parents);
        Assert.Empty(store.Children);
        Assert.Equal([cache], store.Parents);
        Assert.Equal("/srv/brick", store.Options.GetString("directory"));
        Assert.Equal(2L << 20, cache.Options.GetLong("cache-size"));
    }

    [Fact]
    public void Children_come_before_parents_whatever_the_file_order()
    {
        // Written top-down except for the top, which must stay last; children order is b2 b1.
        var g = GraphBuilder.Build("""
            volume mid
                type test/cluster
                subvolumes b2 b1
            end-volume
            volume b1
                type test/leaf
                option directory /1
            end-volume
            volume b2
                type test/leaf
                option directory /2
            end-volume
            volume top
                type debug/passthrough
                subvolumes mid
            end-volume
            """, "td.vol", TestXlators.Registry(), 1);

        var names = g.Translators.Select(t => t.Name).ToList();
        Assert.Equal(["b1", "b2", "mid", "top"], names);
        foreach (var t in g.Translators)
            foreach (var c in t.Children)
                Assert.True(names.IndexOf(c.Name) < names.IndexOf(t.Name), $"{c.Name} must come before {t.Name}");
        Assert.Equal(["b2", "b1"], g.Find("mid")!.Children.Select(c => c.Name));
    }

    [Fact]
    public void A_volume_named_by_two_parents_is_one_shared_translator()
    {
        var g = GraphBuilder.Build(TestXlators.Dag, "dag.vol", TestXlators.Registry(), 1);

        Assert.Equal(4, g.Translators.Count);
        var store = g.Find("store")!;
        Assert.Same(store, g.Find("left")!.FirstChild);
        Assert.Same(store, g.Find("right")!.FirstChild);
        Assert.Equal(["left", "right"], store.Parents.Select(p => p.Name));
    }

    [Fact]
    public void A_single_volume_is_its_own_top()
    {
        var g = GraphBuilder.Build("volume only\n type test/leaf\n option directory /d\nend-volume\n", "one.vol", TestXlators.Registry(), 1);
        Assert.Same(g.Translators.Single(), g.Top);
    }

    [Fact]
    public void Each_build_makes_new_translators()
    {
        var registry = TestXlators.Registry();
        var a = GraphBuilder.Build(TestXlators.Chain, "c.vol", registry, 1);
        var b = GraphBuilder.Build(TestXlators.Chain, "c.vol", registry, 2);
        Assert.NotSame(a.Top, b.Top);
        Assert.NotSame(a.Find("store"), b.Find("store"));
        Assert.Same(b, b.Find("store")!.Graph);
    }
}
