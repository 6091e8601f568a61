using Graft.Core;

namespace Graft.Core.Tests.Volfiles;

/// <summary>What the writer writes parses back into the same volumes.</summary>
public class VolfilesRoundTrip
{
    private static void AssertSameVolumes(VolfileModel a, VolfileModel b)
    {
        Assert.Equal(a.Volumes.Count, b.Volumes.Count);
        for (int i = 0; i < a.Volumes.Count; i++)
        {
            var (x, y) = (a.Volumes[i], b.Volumes[i]);
            Assert.Equal(x.Name, y.Name);
            Assert.Equal(x.Type, y.Type);
            Assert.Equal(x.Subvolumes, y.Subvolumes);
            Assert.Equal(x.Options.Select(o => (o.Key, o.Value)), y.Options.Select(o => (o.Key, o.Value)));
        }
    }

    private const string Messy = """
        # spacing and comments are not kept, everything else is
        volume  b1
        	type test/leaf
          option directory   /srv/a brick
        option read-only yes
        end-volume
        volume b2
          type test/leaf
          option directory /srv/b
        end-volume
        volume c
          type test/cache
          option label  hello   world
          option cache-timeout 5
          option cache-size 8MB
          subvolumes b1
        end-volume
        volume top
          type test/cluster
          subvolumes c b2
        end-volume
        """;

    [Fact]
    public void Model_to_text_to_model_keeps_everything()
    {
        var m = VolfileModel.Parse(Messy, "messy.vol");
        var text = VolfileWriter.Write(m);
        AssertSameVolumes(m, VolfileModel.Parse(text, "written.vol"));
        Assert.Equal(text, VolfileWriter.Write(VolfileModel.Parse(text)));
    }

    [Fact]
    public void The_writer_uses_the_glusterfs_layout()
    {
        var text = VolfileWriter.Write(VolfileModel.Parse(TestXlators.Chain));
        Assert.Equal("""
            volume store
                type test/leaf
                option directory /srv/brick
            end-volume

            volume cache
                type test/cache
                option cache-size 2MB
                subvolumes store
            end-volume

            volume top
                type debug/passthrough
                subvolumes cache
            end-volume

            """, text);
    }

    [Fact]
    public void Graph_to_text_builds_the_same_graph()
    {
        var registry = TestXlators.Registry();
        var g = GraphBuilder.Build(Messy, "messy.vol", registry, 1);
        var text = VolfileWriter.Write(g);
        var g2 = GraphBuilder.Build(text, "written.vol", registry, 2);

        Assert.Equal(g.Translators.Select(t => (t.Name, t.Type)), g2.Translators.Select(t => (t.Name, t.Type)));
        foreach (var t in g.Translators)
        {
            var t2 = g2.Find(t.Name)!;
            Assert.Equal(t.Children.Select(c => c.Name), t2.Children.Select(c => c.Name));
            Assert.Equal(t.Options.Raw.OrderBy(kv => kv.Key), t2.Options.Raw.OrderBy(kv => kv.Key));
        }
        // Same effective options, so comparing the two says there is nothing to do.
        Assert.Equal(VolfileChangeKind.Identical, VolfileDiff.Compare(g, VolfileModel.Parse(text), registry).Kind);
        // A graph writes bottom-up with options in the order its type declares them.
        Assert.Contains("    option cache-size 8MB\n    option cache-timeout 5\n    option label hello   world\n", text);
    }
}
