using Graft.Core;

namespace Graft.Core.Tests.Graphs;

/// <summary>
/// A new volfile is applied in place only when names, types and edges are the same and every
/// changed option is changeable at run time; otherwise it needs a new graph, with the reason.
/// </summary>
public class ReconfigureOrNewGraph
{
    private static readonly XlatorRegistry Registry = TestXlators.Registry();
    private static VolfileModel Chain(string cacheOptions = " option cache-size 2MB", string leafOptions = " option directory /srv/brick", string topType = "debug/passthrough")
        => VolfileModel.Parse($"""
            volume store
                type test/leaf
            {leafOptions}
            end-volume
            volume cache
                type test/cache
            {cacheOptions}
                subvolumes store
            end-volume
            volume top
                type {topType}
                subvolumes cache
            end-volume
            """, "new.vol");

    private static VolfileDiff Compare(VolfileModel b) => VolfileDiff.Compare(Chain(), b, Registry);

    [Fact]
    public void The_same_volfile_is_identical()
        => Assert.Equal(VolfileChangeKind.Identical, Compare(Chain()).Kind);

    [Fact]
    public void Spellings_of_the_same_values_are_identical()
    {
        // 2MB written in bytes, a default written out, and an alias: all the same effective options
        var d = Compare(Chain(" option cache-size 2097152\n option count 4\n option cache-timeout 42s"));
        Assert.Equal(VolfileChangeKind.Identical, d.Kind);
        Assert.Empty(d.Changes);
    }

    [Fact]
    public void Runtime_options_changing_is_a_reconfigure()
    {
        var d = Compare(Chain(" option cache-size 4MB\n option flush-behind off", " option directory /srv/brick\n option readonly on"));
        Assert.Equal(VolfileChangeKind.Reconfigure, d.Kind);
        Assert.Equal([
            new VolfileOptionChange("store", "read-only", "off", "on"),
            new VolfileOptionChange("cache", "cache-size", "2MB", "4MB"),
            new VolfileOptionChange("cache", "flush-behind", "on", "off"),
        ], d.Changes);
        Assert.StartsWith("3 options changed: store.read-only: off -> on", d.Reason);
    }

    [Fact]
    public void An_option_that_cannot_change_at_run_time_needs_a_new_graph()
    {
        var d = Compare(Chain(leafOptions: " option directory /srv/other"));
        Assert.Equal(VolfileChangeKind.NewGraph, d.Kind);
        Assert.Equal("option 'directory' of 'store' cannot change at run time", d.Reason);
        Assert.Equal("option 'count' of 'cache' cannot change at run time", Compare(Chain(" option cache-size 2MB\n option count 5")).Reason);
    }

    [Fact]
    public void A_changed_type_needs_a_new_graph()
    {
        var d = Compare(Chain(cacheOptions: "", topType: "test/cache"));
        Assert.Equal(VolfileChangeKind.NewGraph, d.Kind);
        Assert.Equal("volume 'top' changed type (debug/passthrough -> test/cache)", d.Reason);
    }

    [Fact]
    public void A_changed_edge_needs_a_new_graph()
    {
        var wider = VolfileModel.Parse("""
            volume store
                type test/leaf
                option directory /srv/brick
            end-volume
            volume cache
                type test/pair
                subvolumes store
            end-volume
            volume top
                type test/pair
                subvolumes cache store
            end-volume
            """);
        var narrower = VolfileModel.Parse(wider.Text!.Replace("subvolumes cache store", "subvolumes cache"));
        var d = VolfileDiff.Compare(wider, narrower, Registry);
        Assert.Equal(VolfileChangeKind.NewGraph, d.Kind);
        Assert.Equal("subvolumes of 'top' changed (cache store -> cache)", d.Reason);
    }

    [Fact]
    public void Added_and_removed_volumes_need_a_new_graph()
    {
        var withExtra = VolfileModel.Parse(TestXlators.Chain.Replace("volume top\n    type debug/passthrough\n    subvolumes cache",
            "volume extra\n    type debug/passthrough\n    subvolumes cache\nend-volume\nvolume top\n    type debug/passthrough\n    subvolumes extra"));
        Assert.Equal("volume 'extra' was added", VolfileDiff.Compare(Chain(), withExtra, Registry).Reason);
        Assert.Equal("volume 'extra' was removed", VolfileDiff.Compare(withExtra, Chain(), Registry).Reason);
    }

    [Fact]
    public void An_invalid_new_volfile_is_an_error_not_a_diff()
    {
        var e = Assert.Throws<VolfileException>(() => Compare(Chain(" option cache-size 1KB")));
        Assert.Equal("new.vol", e.File);
        Assert.Equal(7, e.Line);
    }
}

/// <summary>Applying a reconfigurable change to a live graph.</summary>
public class ReconfiguringALiveGraph
{
    [Fact]
    public void Only_the_changed_translators_get_their_new_options()
    {
        var log = new EventLog();
        var registry = TestXlators.Registry(log);
        var g = GraphBuilder.Build(TestXlators.Chain, "old.vol", registry, 1);
        var cache = g.Find("cache")!;
        var newText = TestXlators.Chain.Replace("option cache-size 2MB", "option cache-size 8MB\n    option label hot");

        var d = g.Reconfigure(VolfileModel.Parse(newText, "new.vol"), registry);

        Assert.Equal(VolfileChangeKind.Reconfigure, d.Kind);
        Assert.Equal(["cache: reconfigure"], log.Entries);
        Assert.Equal(8L << 20, cache.Options.GetLong("cache-size"));
        Assert.Equal("hot", cache.Options.GetString("label"));
        Assert.Equal(newText, g.VolfileText);
        // the graph now runs the new volfile: applying it again changes nothing
        Assert.Equal(VolfileChangeKind.Identical, g.Reconfigure(VolfileModel.Parse(newText), registry).Kind);
        Assert.Single(log.Entries);
    }

    [Fact]
    public void A_change_that_needs_a_new_graph_leaves_the_graph_alone()
    {
        var log = new EventLog();
        var registry = TestXlators.Registry(log);
        var g = GraphBuilder.Build(TestXlators.Chain, "old.vol", registry, 1);
        var newText = TestXlators.Chain.Replace("option cache-size 2MB", "option cache-size 8MB\n    option mode safe");

        var d = g.Reconfigure(VolfileModel.Parse(newText), registry);

        Assert.Equal(VolfileChangeKind.NewGraph, d.Kind);
        Assert.Equal("option 'mode' of 'cache' cannot change at run time", d.Reason);
        Assert.Empty(log.Entries);
        Assert.Equal(2L << 20, g.Find("cache")!.Options.GetLong("cache-size"));
        Assert.Equal(TestXlators.Chain, g.VolfileText);
    }

    [Fact]
    public void A_translator_that_refuses_its_new_options_asks_for_a_new_graph()
    {
        var registry = TestXlators.Registry(reconfigure: (_, o) => o.GetLong("cache-size") > (4L << 20) ? Errno.EINVAL : Errno.OK);
        var g = GraphBuilder.Build(TestXlators.Chain, "old.vol", registry, 1);

        var d = g.Reconfigure(VolfileModel.Parse(TestXlators.Chain.Replace("2MB", "8MB")), registry);

        Assert.Equal(VolfileChangeKind.NewGraph, d.Kind);
        Assert.Equal("translator 'cache' (test/cache) refused the new options: EINVAL", d.Reason);
        Assert.Equal(2L << 20, g.Find("cache")!.Options.GetLong("cache-size"));
        Assert.Equal(TestXlators.Chain, g.VolfileText);
    }
}
