using Graft.Core;

namespace Graft.Core.Tests;

public class InodeDentryTests
{
    [Fact]
    public void Link_with_a_name_makes_the_name_resolve_to_the_inode()
    {
        var t = new InodeTable();
        var d = t.Link(Gfid.Root, "d", Iatts.Dir(Gfid.NewGfid()));
        var f = t.Link(d.Gfid, "f", Iatts.File(Gfid.NewGfid()));
        Assert.Same(d, t.FindChild(Gfid.Root, "d"));
        Assert.Same(f, t.FindChild(d.Gfid, "f"));
        Assert.Null(t.FindChild(Gfid.Root, "f"));
    }

    [Fact]
    public void Nameless_link_adds_the_inode_but_no_dentry()
    {
        var t = new InodeTable();
        var i = t.Link(default, null, Iatts.File(Gfid.NewGfid()));
        Assert.Same(i, t.Find(i.Gfid));
        Assert.Null(t.FindChild(Gfid.Root, ""));
    }

    [Fact]
    public void Unlink_drops_the_name_but_not_the_inode()
    {
        var t = new InodeTable();
        var f = t.Link(Gfid.Root, "f", Iatts.File(Gfid.NewGfid()));
        t.Unlink(Gfid.Root, "f");
        Assert.Null(t.FindChild(Gfid.Root, "f"));
        Assert.Same(f, t.Find(f.Gfid));
    }

    [Fact]
    public void A_file_can_have_several_names_and_loses_them_one_by_one()
    {
        var t = new InodeTable();
        var g = Gfid.NewGfid();
        var f = t.Link(Gfid.Root, "one", Iatts.File(g));
        t.Link(Gfid.Root, "two", Iatts.File(g));
        Assert.Same(f, t.FindChild(Gfid.Root, "one"));
        Assert.Same(f, t.FindChild(Gfid.Root, "two"));
        t.Unlink(Gfid.Root, "one");
        Assert.Same(f, t.FindChild(Gfid.Root, "two"));
    }

    [Fact]
    public void A_directory_has_one_name_so_a_new_link_replaces_the_old()
    {
        var t = new InodeTable();
        var g = Gfid.NewGfid();
        var d = t.Link(Gfid.Root, "old", Iatts.Dir(g));
        t.Link(Gfid.Root, "new", Iatts.Dir(g));
        Assert.Null(t.FindChild(Gfid.Root, "old"));
        Assert.Same(d, t.FindChild(Gfid.Root, "new"));
    }

    [Fact]
    public void Linking_a_name_to_another_inode_takes_the_name_from_the_first()
    {
        var t = new InodeTable();
        var a = t.Link(Gfid.Root, "n", Iatts.File(Gfid.NewGfid()));
        var b = t.Link(Gfid.Root, "n", Iatts.File(Gfid.NewGfid()));
        Assert.Same(b, t.FindChild(Gfid.Root, "n"));
        Assert.NotSame(a, b);
    }

    [Fact]
    public void Rename_moves_the_name_and_the_replaced_target_loses_its_name()
    {
        var t = new InodeTable();
        var d = t.Link(Gfid.Root, "d", Iatts.Dir(Gfid.NewGfid()));
        var src = t.Link(Gfid.Root, "src", Iatts.File(Gfid.NewGfid()));
        var victim = t.Link(d.Gfid, "dst", Iatts.File(Gfid.NewGfid()));
        t.Rename(Gfid.Root, "src", d.Gfid, "dst");
        Assert.Null(t.FindChild(Gfid.Root, "src"));
        Assert.Same(src, t.FindChild(d.Gfid, "dst"));
        Assert.Same(victim, t.Find(victim.Gfid)); // still referenced, so still in the table
        t.Unlink(d.Gfid, "dst");
        Assert.Null(t.FindChild(d.Gfid, "dst"));
    }

    [Fact]
    public void Exchange_swaps_two_names()
    {
        var t = new InodeTable();
        var a = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        var b = t.Link(Gfid.Root, "b", Iatts.Dir(Gfid.NewGfid()));
        t.Exchange(Gfid.Root, "a", Gfid.Root, "b");
        Assert.Same(b, t.FindChild(Gfid.Root, "a"));
        Assert.Same(a, t.FindChild(Gfid.Root, "b"));
    }
}
