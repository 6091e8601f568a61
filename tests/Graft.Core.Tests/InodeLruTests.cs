using Graft.Core;

namespace Graft.Core.Tests;

public class InodeLruTests
{
    private static Inode Unreferenced(InodeTable t, string name)
    {
        var i = t.Link(Gfid.Root, name, Iatts.File(Gfid.NewGfid()));
        t.Unref(i);
        return i;
    }

    [Fact]
    public void Nothing_is_purged_until_the_lru_is_longer_than_its_bound()
    {
        var t = new InodeTable(lruLimit: 3);
        var purged = new List<Inode>();
        t.Purged += purged.Add;
        var a = Unreferenced(t, "a");
        Unreferenced(t, "b");
        Unreferenced(t, "c");
        Assert.Empty(purged);
        Assert.Equal(3, t.LruCount);
        Unreferenced(t, "d");
        Assert.Equal([a], purged); // the least recently used goes first, and only it
        Assert.Equal(3, t.LruCount);
        Assert.Null(t.Find(a.Gfid));
        Assert.Null(t.FindChild(Gfid.Root, "a")); // its dentries go with it
    }

    [Fact]
    public void Active_inodes_are_never_purged_however_many_there_are()
    {
        var t = new InodeTable(lruLimit: 0);
        var purged = new List<Inode>();
        t.Purged += purged.Add;
        var held = Enumerable.Range(0, 50).Select(n => t.Link(Gfid.Root, "f" + n, Iatts.File(Gfid.NewGfid()))).ToList();
        foreach (var i in held) { t.AddLookup(i); t.Unref(i); }
        Assert.Empty(purged);
        Assert.Equal(51, t.Count);
        t.Forget(held[7], 1);
        Assert.Equal([held[7]], purged); // bound 0: purged as soon as it is unreferenced
    }

    [Fact]
    public void The_root_is_never_purged()
    {
        var t = new InodeTable(lruLimit: 0);
        t.Forget(t.Root, ulong.MaxValue);
        Unreferenced(t, "a");
        Unreferenced(t, "b");
        Assert.Same(t.Root, t.Find(Gfid.Root));
        Assert.Equal(1, t.Count);
    }

    [Fact]
    public void A_purged_inode_cannot_be_referenced_again()
    {
        var t = new InodeTable(lruLimit: 0);
        var i = Unreferenced(t, "a");
        Assert.Throws<InvalidOperationException>(() => t.Ref(i));
        Assert.Throws<InvalidOperationException>(() => t.AddLookup(i));
    }

    [Fact]
    public void Purging_tells_every_translator_of_the_graph_to_forget_the_inode()
    {
        var bottom = new ForgetRecorder();
        var top = new ForgetRecorder();
        top.AddChild(bottom);
        var graph = new Graph(1, [bottom, top], inodeLruLimit: 1);
        var a = Unreferenced(graph.Inodes, "a");
        Assert.Empty(bottom.Forgotten);
        Unreferenced(graph.Inodes, "b");
        Assert.Equal([a.Gfid], bottom.Forgotten);
        Assert.Equal([a.Gfid], top.Forgotten);
    }

    [Fact]
    public void Clear_purges_everything_including_the_root()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "a", Iatts.File(Gfid.NewGfid()));
        var purged = new List<Inode>();
        t.Purged += purged.Add;
        t.Clear();
        Assert.Equal(0, t.Count);
        Assert.Contains(i, purged);
        Assert.Contains(t.Root, purged);
    }
}
