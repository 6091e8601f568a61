using Graft.Core;
using Graft.Management.Volumes;
using Graft.Xlators;

namespace Graft.Management.Tests.Volumes;

/// <summary>Client volfiles generated from volumes: valid graphs, and each key change is the kind of change its table entry says.</summary>
public sealed class GeneratedVolfiles
{
    static Volume OneBrick(params (string Key, string Value)[] options) => new("v", "id", VolumeState.Started, 1,
        [new Brick("127.0.0.1", "/b0", 0, "v-b0", 49152)], options.ToDictionary(o => o.Key, o => o.Value), 1);

    static VolfileModel Model(string text) => VolfileModel.Parse(text, "gen.vol");

    [Fact]
    public void A_one_brick_volume_is_protocol_client_under_write_behind_with_the_secret_file()
    {
        var text = VolfileGenerator.Client(OneBrick(), "/run/graft/x.secret");
        var model = Model(text);
        model.Validate(BuiltinXlators.CreateRegistry());
        Assert.Contains("option secret-file /run/graft/x.secret", text);
        Assert.Contains("option remote-port 49152", text);
        Assert.Contains("option remote-subvolume v-b0", text);
        Assert.Contains("type performance/write-behind", text);
    }

    [Fact]
    public void Write_behind_off_removes_the_translator_a_new_graph()
    {
        var r = BuiltinXlators.CreateRegistry();
        var diff = VolfileDiff.Compare(Model(VolfileGenerator.Client(OneBrick(), null)),
                                       Model(VolfileGenerator.Client(OneBrick((VolumeKeys.WriteBehind, "off")), null)), r);
        Assert.Equal(VolfileChangeKind.NewGraph, diff.Kind);
        Assert.Equal(KeyEffect.Graph, VolumeKeys.Find(VolumeKeys.WriteBehind)!.Effect);
    }

    [Fact]
    public void Md_cache_is_the_top_by_default_its_key_removes_it_and_its_timeout_is_reconfigured_in_place()
    {
        var r = BuiltinXlators.CreateRegistry();
        foreach (var v in new[] { OneBrick(), OneBrick() with { Bricks = [new Brick("h1", "/b", 0, "v-b0", 1), new Brick("h2", "/b", 1, "v-b1", 2)], NextBrickId = 2 } })
        {
            var model = Model(VolfileGenerator.Client(v, null));
            model.Validate(r);
            Assert.Equal("performance/md-cache", model.Volumes[^1].Type);
            Assert.Equal(new[] { "v-write-behind" }, model.Volumes[^1].Subvolumes);
        }
        var before = Model(VolfileGenerator.Client(OneBrick(), null));
        var off = Model(VolfileGenerator.Client(OneBrick((VolumeKeys.MdCache, "off")), null));
        Assert.DoesNotContain(off.Volumes, x => x.Type == "performance/md-cache");
        Assert.Equal(VolfileChangeKind.NewGraph, VolfileDiff.Compare(before, off, r).Kind);
        Assert.Equal(KeyEffect.Graph, VolumeKeys.Find(VolumeKeys.MdCache)!.Effect);
        var timeout = Model(VolfileGenerator.Client(OneBrick((VolumeKeys.MdCacheTimeout, "5")), null));
        Assert.Equal(VolfileChangeKind.Reconfigure, VolfileDiff.Compare(before, timeout, r).Kind);
        Assert.Equal(KeyEffect.RunTime, VolumeKeys.Find(VolumeKeys.MdCacheTimeout)!.Effect);
    }

    [Fact]
    public void The_window_size_is_reconfigured_in_place_and_reset_gives_back_the_same_graph()
    {
        var r = BuiltinXlators.CreateRegistry();
        var before = Model(VolfileGenerator.Client(OneBrick(), null));
        var diff = VolfileDiff.Compare(before, Model(VolfileGenerator.Client(OneBrick((VolumeKeys.WriteBehindWindow, "2MB")), null)), r);
        Assert.Equal(VolfileChangeKind.Reconfigure, diff.Kind);
        Assert.Equal(KeyEffect.RunTime, VolumeKeys.Find(VolumeKeys.WriteBehindWindow)!.Effect);
        // Setting a key to its default writes it, but it is the same effective graph: nothing to apply.
        Assert.Equal(VolfileChangeKind.Identical, VolfileDiff.Compare(before, Model(VolfileGenerator.Client(OneBrick((VolumeKeys.WriteBehindWindow, "4MB")), null)), r).Kind);
    }

    [Fact]
    public void Writes_in_flight_is_a_write_behind_option_changed_in_place()
    {
        var r = BuiltinXlators.CreateRegistry();
        var before = Model(VolfileGenerator.Client(OneBrick(), null));
        var text = VolfileGenerator.Client(OneBrick((VolumeKeys.WritesInFlight, "1")), null);
        Assert.Matches(@"type performance/write-behind\n(    option [^\n]*\n)*    option writes-in-flight 1\n", text);
        Assert.Equal(VolfileChangeKind.Reconfigure, VolfileDiff.Compare(before, Model(text), r).Kind);
        Assert.Null(VolumeKeys.Find(VolumeKeys.WritesInFlight)!.Normalise("0", out var error));
        Assert.Contains("out of range", error);
    }

    [Fact]
    public void Keys_take_range_and_run_time_from_the_translator_option()
    {
        var k = VolumeKeys.Find("performance.write-behind-window-size")!;
        Assert.Null(k.Normalise("2GB", out var error));
        Assert.Contains("out of range", error);
        Assert.Equal("2MB", k.Normalise("2MB", out _));
        Assert.Equal("off", VolumeKeys.Find(VolumeKeys.WriteBehind)!.Normalise("disable", out _));
        Assert.All(VolumeKeys.All, key => Assert.False(string.IsNullOrEmpty(key.Description)));
    }

    [Fact]
    public void More_bricks_go_under_cluster_distribute_and_replica_sets_under_cluster_replicate()
    {
        var v = OneBrick() with { Bricks = [new Brick("h1", "/b", 0, "v-b0", 1), new Brick("h2", "/b", 1, "v-b1", 2)], NextBrickId = 2 };
        var text = VolfileGenerator.Client(v, null);
        Assert.Contains("type cluster/distribute\n    subvolumes v-client-0 v-client-1", text);
        var rep = v with { Replica = 2 };
        Assert.Contains("type cluster/replicate\n    subvolumes v-client-0 v-client-1", VolfileGenerator.Client(rep, null));
        Assert.DoesNotContain("cluster/distribute", VolfileGenerator.Client(rep, null));
        // Client names come from brick ids, so adding a brick leaves the others' volumes as they were.
        Assert.Contains("volume v-client-0", VolfileGenerator.Client(OneBrick(), null));
    }

    [Fact]
    public void Bricks_being_removed_are_decommissioned_in_distribute_and_reconfigured_in_place()
    {
        var v = OneBrick() with { Bricks = [.. Enumerable.Range(0, 4).Select(i => new Brick("h", $"/b{i}", i, $"v-b{i}", 10 + i))], NextBrickId = 4 };
        var draining = v with { Removing = ["v-b2"] };
        var text = VolfileGenerator.Client(draining, null);
        Model(text).Validate(BuiltinXlators.CreateRegistry());
        Assert.Contains("type cluster/distribute\n    option decommissioned v-client-2\n", text);
        Assert.Equal(["v-client-2"], VolfileGenerator.DrainedSubvolumes(draining));
        // Mounts apply it without a new graph: open files and caches stay.
        Assert.Equal(VolfileChangeKind.Reconfigure,
                     VolfileDiff.Compare(Model(VolfileGenerator.Client(v, null)), Model(text), BuiltinXlators.CreateRegistry()).Kind);
        // With replica, the set the bricks make up is what distribute drains; half a set is not drained.
        var rep = v with { Replica = 2, Removing = ["v-b2", "v-b3"] };
        Assert.Equal(["v-replicate-2"], VolfileGenerator.DrainedSubvolumes(rep));
        Assert.Contains("option decommissioned v-replicate-2", VolfileGenerator.Client(rep, null));
        Assert.Empty(VolfileGenerator.DrainedSubvolumes(rep with { Removing = ["v-b2"] }));
        Assert.DoesNotContain("decommissioned", VolfileGenerator.Client(v, null));
    }
}
