using Graft.Core;

namespace Graft.Core.Tests.Volfiles;

public class ParsingAValidVolfile
{
    [Fact]
    public void Volumes_come_in_file_order_with_their_lines()
    {
        var m = VolfileModel.Parse(TestXlators.Chain, "chain.vol");

        Assert.Equal("chain.vol", m.File);
        Assert.Equal(["store", "cache", "top"], m.Volumes.Select(v => v.Name));
        Assert.Equal("top", m.Top.Name);
        var store = m.Find("store")!;
        Assert.Equal(2, store.Line);
        Assert.Equal("test/leaf", store.Type);
        Assert.Equal(3, store.TypeLine);
        Assert.Equal(new VolfileOption("directory", "/srv/brick", 4), Assert.Single(store.Options));
        Assert.Empty(store.Subvolumes);
        Assert.Equal(0, store.SubvolumesLine);
        var cache = m.Find("cache")!;
        Assert.Equal(["store"], cache.Subvolumes);
        Assert.Equal(10, cache.SubvolumesLine);
        Assert.Equal(TestXlators.Chain, m.Text);
    }

    [Fact]
    public void Option_value_is_the_rest_of_the_line_trimmed()
    {
        var m = VolfileModel.Parse("volume a\n  type test/leaf\n  option directory   /srv/my brick\t  \nend-volume\n");
        Assert.Equal("/srv/my brick", m.Volumes[0].Options[0].Value);
    }

    [Fact]
    public void Comments_blank_lines_tabs_and_crlf_are_accepted()
    {
        var text = "# header\r\n\r\n\tvolume a\r\n\t\t# inside\r\n\t\ttype test/leaf\r\n\toption directory /x\r\n   end-volume   \r\n# trailer";
        var m = VolfileModel.Parse(text);
        var a = Assert.Single(m.Volumes);
        Assert.Equal(3, a.Line);
        Assert.Equal(5, a.TypeLine);
        Assert.Equal("/x", a.Options[0].Value);
    }

    [Fact]
    public void A_byte_order_mark_is_ignored()
        => Assert.Equal("a", VolfileModel.Parse("\uFEFFvolume a\ntype test/leaf\nend-volume\n").Volumes[0].Name);

    [Fact]
    public void Subvolumes_keep_their_order()
    {
        var m = VolfileModel.Parse("""
            volume c
              type test/cluster
              subvolumes z a m
            end-volume
            """);
        Assert.Equal(["z", "a", "m"], m.Volumes[0].Subvolumes);
    }

    [Fact]
    public void A_hash_inside_an_option_value_is_part_of_the_value()
    {
        var m = VolfileModel.Parse("volume a\ntype test/cache\noption label red # blue\nend-volume");
        Assert.Equal("red # blue", m.Volumes[0].Options[0].Value);
    }

    [Fact]
    public void Load_reads_a_file_and_reports_its_path()
    {
        var dir = Directory.CreateTempSubdirectory("graft-volfile-");
        try
        {
            var path = Path.Combine(dir.FullName, "bad.vol");
            File.WriteAllText(path, "volume a\n  type test/leaf\n");
            var e = Assert.Throws<VolfileException>(() => VolfileModel.Load(path));
            Assert.Equal(path, e.File);
            Assert.StartsWith($"{path}:1: volume 'a': ", e.Message);
        }
        finally { dir.Delete(recursive: true); }
    }
}
