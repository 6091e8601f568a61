using System.Reflection;
using Graft.Core;

namespace Graft.Core.Tests;

/// <summary>DESIGN invariant 1: an fd never changes its inode, and holds it alive while open.</summary>
public class InodeFdTests
{
    [Fact]
    public void Fd_inode_has_no_setter_and_its_backing_field_is_readonly()
    {
        var prop = typeof(Fd).GetProperty(nameof(Fd.Inode))!;
        Assert.Null(prop.SetMethod); // not even a private or init one
        var fields = typeof(Fd).GetFields(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
                               .Where(f => f.FieldType == typeof(Inode)).ToList();
        Assert.NotEmpty(fields);
        Assert.All(fields, f => Assert.True(f.IsInitOnly, $"{f.Name} must be readonly"));
    }

    [Fact]
    public void Inode_table_and_gfid_have_no_setters_either()
    {
        Assert.Null(typeof(Inode).GetProperty(nameof(Inode.Table))!.SetMethod);
        Assert.Null(typeof(Inode).GetProperty(nameof(Inode.Gfid))!.SetMethod);
        Assert.All(typeof(Inode).GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
                                 .Where(f => f.FieldType == typeof(InodeTable)),
                   f => Assert.True(f.IsInitOnly));
    }

    [Fact]
    public void An_open_fd_holds_a_ref_on_its_inode_and_gives_it_back_on_the_last_unref()
    {
        var t = new InodeTable(lruLimit: 0);
        var i = t.Link(Gfid.Root, "f", Iatts.File(Gfid.NewGfid()));
        var fd = new Fd(i, OpenFlags.O_RDWR);
        t.Unref(i);
        Assert.Equal(1, i.RefCount);
        Assert.Equal(1, t.FdCount);
        fd.Ref();
        Assert.False(fd.Unref());
        Assert.Same(i, t.Find(i.Gfid)); // the fd keeps it even with an LRU bound of 0
        Assert.True(fd.Unref());        // last reference: the owner sends release
        Assert.Equal(0, t.FdCount);
        Assert.Null(t.Find(i.Gfid));    // and the inode, now unreferenced, is purged
        Assert.Same(i, fd.Inode);       // the fd still names the same inode object
    }

    [Fact]
    public void A_dead_fd_cannot_be_revived_or_released_twice()
    {
        var t = new InodeTable();
        var i = t.Link(Gfid.Root, "f", Iatts.File(Gfid.NewGfid()));
        var fd = new Fd(i, OpenFlags.O_RDONLY);
        Assert.True(fd.TryRef());
        Assert.False(fd.Unref());
        Assert.True(fd.Unref());
        Assert.False(fd.TryRef());
        Assert.Throws<InvalidOperationException>(() => fd.Unref());
    }

    [Fact]
    public void Fd_knows_its_graph_through_its_inode()
    {
        var g = new Graph(7, [new ForgetRecorder()]);
        var i = g.Inodes.Link(Gfid.Root, "f", Iatts.File(Gfid.NewGfid()));
        var fd = new Fd(i, OpenFlags.O_RDONLY);
        Assert.Same(g, fd.Graph);
        Assert.Same(g.Inodes, fd.Inode.Table);
    }
}
