using Graft.Core;

namespace Graft.Core.Tests;

public class InodeReferenceTests
{
    [Fact]
    public void Link_returns_one_ref_and_the_same_inode_for_the_same_gfid()
    {
        var t = new InodeTable();
        var g = Gfid.NewGfid();
        var a = t.Link(Gfid.Root, "a", Iatts.File(g));
        var b = t.Link(Gfid.Root, "a", Iatts.File(g));
        Assert.Same(a, b);
        Assert.Equal(2, a.RefCount);
        Assert.Same(a, t.Find(g));
        Assert.Equal(PosixMode.S_IFREG, a.Type);
    }

    [Fact]
    public void An_inode_without_refs_or_lookups_leaves_the_active_set_for_the_lru()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        Assert.Equal(2, t.ActiveCount); // root + i
        t.Unref(i);
        Assert.Equal(1, t.ActiveCount);
        Assert.Equal(1, t.LruCount);
        Assert.Same(i, t.Find(i.Gfid)); // still findable: LRU inodes are cached, not gone
    }

    [Fact]
    public void A_lookup_reference_keeps_an_inode_active_until_forget_drops_it_to_zero()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        t.AddLookup(i, 3);
        t.Unref(i);
        Assert.Equal(0, t.LruCount);
        Assert.Equal(1UL, t.Forget(i, 2));
        Assert.Equal(0, t.LruCount);
        Assert.Equal(0UL, t.Forget(i, 5)); // more than held clamps at zero
        Assert.Equal(1, t.LruCount);
    }

    [Fact]
    public void Taking_a_ref_again_pulls_an_inode_out_of_the_lru()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        t.Unref(i);
        Assert.Equal(1, t.LruCount);
        t.Ref(i);
        Assert.Equal(0, t.LruCount);
        Assert.Equal(1, i.RefCount);
    }

    [Fact]
    public void Unref_without_a_ref_is_a_bug_and_throws()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        t.Unref(i);
        Assert.Throws<InvalidOperationException>(() => t.Unref(i));
    }

    [Fact]
    public void Forget_on_the_root_changes_nothing()
    {
        var t = new InodeTable();
        var before = t.Root.LookupCount;
        t.Forget(t.Root, 100);
        Assert.Equal(before, t.Root.LookupCount);
        Assert.Same(t.Root, t.Find(Gfid.Root));
    }

    [Fact]
    public void An_inode_of_another_table_is_refused()
    {
        var t1 = new InodeTable();
        var t2 = new InodeTable();
        var i = t1.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        Assert.Throws<InvalidOperationException>(() => t2.Unref(i));
        Assert.Throws<InvalidOperationException>(() => t2.AddLookup(i));
    }

    [Fact]
    public void Linking_an_iatt_without_a_gfid_is_refused()
    {
        var t = new InodeTable();
        Assert.Throws<ArgumentException>(() => t.Link(Gfid.Root, "a", default));
    }
}
