using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>Nodes: lookup counts, forget, stale ids, and the inode table kept in step.</summary>
public class SessionNodeTests
{
    [Fact]
    public async Task The_root_is_node_one_and_is_never_forgotten()
    {
        await using var t = await TestSession.StartAsync();
        Assert.Same(t.Session.Root, t.Session.GetNode(MountSession.RootId));
        t.Session.Forget(t.Session.Root, 1000);
        Assert.Same(t.Session.Root, t.Session.GetNode(MountSession.RootId));
        Assert.True(TestSession.Ok(await t.Session.GetattrAsync(t.Ctx, t.Session.Root)).IsDir);
    }

    [Fact]
    public async Task Each_lookup_adds_one_to_the_same_node_and_the_inode_gets_one_lookup_per_node()
    {
        await using var t = await TestSession.StartAsync();
        var created = await t.CreateFileAsync("f");
        var a = TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f"));
        var b = TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f"));
        Assert.Same(created.Node, a.Node);
        Assert.Same(a.Node, b.Node);
        Assert.Equal(3UL, a.Node.LookupCount); // create + 2 lookups
        Assert.Equal(1UL, a.Node.Inode.LookupCount);
        Assert.Same(a.Node.Inode, t.Graph.Inodes.FindChild(Gfid.Root, "f"));
        Assert.Same(a.Node, t.Session.GetNode(a.Node.HandleId));
    }

    [Fact]
    public async Task Forget_to_zero_makes_the_id_stale_and_lets_the_inode_go()
    {
        await using var t = await TestSession.StartAsync();
        var e = await t.CreateFileAsync("f");
        var id = e.Node.HandleId;
        var inode = e.Node.Inode;
        TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f"));
        t.Session.Forget(e.Node, 1);
        Assert.Same(e.Node, t.Session.GetNode(id));
        Assert.Equal(1UL, inode.LookupCount);
        t.Session.Forget(e.Node, 1);
        Assert.Null(t.Session.GetNode(id));
        Assert.Equal(0UL, inode.LookupCount);
        Assert.Equal(0, inode.RefCount);

        // A new lookup makes a new node with a new id: the old id stays stale.
        var again = TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f"));
        Assert.NotSame(e.Node, again.Node);
        Assert.NotEqual(id, again.Node.HandleId);
        Assert.Null(t.Session.GetNode(id));
        Assert.Equal(e.Node.Gfid, again.Node.Gfid);
    }

    [Fact]
    public async Task A_failed_lookup_creates_no_node()
    {
        await using var t = await TestSession.StartAsync();
        var before = t.Session.NodeCount;
        var r = await t.Session.LookupAsync(t.Ctx, t.Session.Root, "missing");
        Assert.Equal(Errno.ENOENT, r.Error);
        Assert.Equal(before, t.Session.NodeCount);
    }

    [Fact]
    public async Task New_objects_get_gfids_the_session_chose_and_passed_down()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f");
        var d = TestSession.Ok(await t.Session.MkdirAsync(t.Ctx, t.Session.Root, "d", 0x1ED, 0));
        Assert.Equal(f.Node.Gfid, t.Brick.CreatedGfids.Single());
        Assert.NotEqual(f.Node.Gfid, d.Node.Gfid);
        Assert.False(d.Node.Gfid.IsZero);
        Assert.True(d.Node.IsDir);
    }

    [Fact]
    public async Task Unlink_and_rmdir_drop_the_dentry_from_the_inode_table()
    {
        await using var t = await TestSession.StartAsync();
        await t.CreateFileAsync("f");
        TestSession.Ok(await t.Session.MkdirAsync(t.Ctx, t.Session.Root, "d", 0x1ED, 0));
        Assert.NotNull(t.Graph.Inodes.FindChild(Gfid.Root, "f"));
        Assert.Equal(Errno.OK, await t.Session.UnlinkAsync(t.Ctx, t.Session.Root, "f"));
        Assert.Equal(Errno.OK, await t.Session.RmdirAsync(t.Ctx, t.Session.Root, "d"));
        Assert.Null(t.Graph.Inodes.FindChild(Gfid.Root, "f"));
        Assert.Null(t.Graph.Inodes.FindChild(Gfid.Root, "d"));
        Assert.Equal(Errno.ENOENT, (await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f")).Error);
    }

    [Fact]
    public async Task Rename_and_exchange_move_dentries_in_the_inode_table()
    {
        await using var t = await TestSession.StartAsync();
        var a = await t.CreateFileAsync("a");
        var d = TestSession.Ok(await t.Session.MkdirAsync(t.Ctx, t.Session.Root, "d", 0x1ED, 0));
        TestSession.Ok(await t.Session.RenameAsync(t.Ctx, t.Session.Root, "a", d.Node, "b"));
        Assert.Null(t.Graph.Inodes.FindChild(Gfid.Root, "a"));
        Assert.Same(a.Node.Inode, t.Graph.Inodes.FindChild(d.Node.Gfid, "b"));

        var c = await t.CreateFileAsync("c");
        TestSession.Ok(await t.Session.RenameAsync(t.Ctx, t.Session.Root, "c", d.Node, "b", RenameFlags.Exchange));
        Assert.Same(a.Node.Inode, t.Graph.Inodes.FindChild(Gfid.Root, "c"));
        Assert.Same(c.Node.Inode, t.Graph.Inodes.FindChild(d.Node.Gfid, "b"));
    }

    [Fact]
    public async Task Link_returns_the_same_node_with_another_lookup()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f");
        var l = TestSession.Ok(await t.Session.LinkAsync(t.Ctx, f.Node, t.Session.Root, "g"));
        Assert.Same(f.Node, l.Node);
        Assert.Equal(2UL, f.Node.LookupCount);
        Assert.Equal(2u, l.Attr.Nlink);
        Assert.Same(f.Node.Inode, t.Graph.Inodes.FindChild(Gfid.Root, "g"));
    }

    [Fact]
    public async Task Symlink_mknod_readlink_statfs_and_xattrs_pass_through()
    {
        await using var t = await TestSession.StartAsync();
        var s = TestSession.Ok(await t.Session.SymlinkAsync(t.Ctx, t.Session.Root, "s", "target"));
        Assert.True(s.Attr.IsSymlink);
        Assert.Equal("target", TestSession.Ok(await t.Session.ReadlinkAsync(t.Ctx, s.Node)));
        var n = TestSession.Ok(await t.Session.MknodAsync(t.Ctx, t.Session.Root, "fifo", PosixMode.S_IFIFO | 0x1A4, 0, 0));
        Assert.Equal(PosixMode.S_IFIFO, n.Attr.Type);
        Assert.Equal(4096u, TestSession.Ok(await t.Session.StatfsAsync(t.Ctx, t.Session.Root)).Bsize);
        Assert.Equal(Errno.OK, await t.Session.SetxattrAsync(t.Ctx, n.Node, "user.k", "v"u8.ToArray(), 0));
        Assert.Equal("v"u8.ToArray(), TestSession.Ok(await t.Session.GetxattrAsync(t.Ctx, n.Node, "user.k")));
    }
}
