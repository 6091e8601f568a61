using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>Open files: handle ids, fd references, release exactly once on the fd's graph.</summary>
public class SessionFileTests
{
    [Fact]
    public async Task Open_registers_a_file_whose_fd_is_counted_on_the_graph_until_release()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f", "hello"u8.ToArray());
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDONLY));
        Assert.Same(file, t.Session.GetFile(file.HandleId));
        Assert.Equal(1, t.Graph.Inodes.FdCount);
        Assert.Same(f.Node.Inode, file.Fd.Inode);
        Assert.Equal(1, file.Fd.RefCount);
        var buf = new byte[16];
        Assert.Equal(5, TestSession.Ok(await t.Session.ReadAsync(t.Ctx, file, buf, 0)));
        Assert.Equal(1, file.Fd.RefCount); // a fop's reference is given back when it ends

        var releasesBefore = t.Brick.Releases;
        Assert.Equal(Errno.OK, await t.Session.ReleaseAsync(file));
        Assert.Equal(releasesBefore + 1, t.Brick.Releases);
        Assert.Equal(0, t.Graph.Inodes.FdCount);
        Assert.Null(t.Session.GetFile(file.HandleId));
        Assert.Equal(Errno.EBADF, await t.Session.ReleaseAsync(file));
        Assert.Equal(releasesBefore + 1, t.Brick.Releases); // never twice
    }

    [Fact]
    public async Task Release_during_a_read_waits_for_the_read_before_the_brick_hears_release()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f", "data"u8.ToArray());
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDONLY));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.Brick.ReadGate = gate;
        var releases = t.Brick.Releases;

        var read = t.Session.ReadAsync(FopContext.Root(), file, new byte[8], 0).AsTask();
        Assert.Equal(1, t.Graph.FopsInFlight);
        Assert.Equal(2, file.Fd.RefCount);
        Assert.Equal(Errno.OK, await t.Session.ReleaseAsync(file));
        Assert.Null(t.Session.GetFile(file.HandleId)); // the id is stale at once ...
        Assert.Equal(releases, t.Brick.Releases);      // ... but the fd lives while the read uses it

        gate.SetResult();
        Assert.Equal(4, TestSession.Ok(await read.WaitAsync(TimeSpan.FromSeconds(10))));
        Assert.Equal(releases + 1, t.Brick.Releases);
        Assert.Equal(0, t.Graph.Inodes.FdCount);
        Assert.Equal(0, t.Graph.FopsInFlight);
    }

    [Fact]
    public async Task Every_fop_leaves_the_in_flight_count_at_zero_whether_it_succeeds_or_fails()
    {
        await using var t = await TestSession.StartAsync();
        var s = t.Session;
        var f = await t.CreateFileAsync("f", new byte[10]);
        var file = TestSession.Ok(await s.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDWR));
        await s.LookupAsync(t.Ctx, s.Root, "nope");
        await s.GetattrAsync(t.Ctx, f.Node);
        await s.GetattrAsync(t.Ctx, file);
        await s.SetattrAsync(t.Ctx, file, new SetAttr { Valid = SetAttrValid.Size, Size = 3 });
        await s.WriteAsync(t.Ctx, file, new byte[4], 0);
        await s.ReadAsync(t.Ctx, file, new byte[4], 0);
        await s.FlushAsync(t.Ctx, file);
        await s.FsyncAsync(t.Ctx, file, false);
        await s.LseekAsync(t.Ctx, file, 0, 3);               // ENOSYS from the brick
        await s.FallocateAsync(t.Ctx, file, 0, 0, 1);        // ENOSYS
        await s.LkAsync(t.Ctx, file, LockCmd.GetLk, default); // ENOSYS
        await s.UnlinkAsync(t.Ctx, s.Root, "nope");
        await s.RenameAsync(t.Ctx, s.Root, "nope", s.Root, "x");
        await s.AccessAsync(t.Ctx, f.Node, 4);
        await s.ListxattrAsync(t.Ctx, f.Node);
        await s.RemovexattrAsync(t.Ctx, f.Node, "user.x");
        await s.ReleaseAsync(file);
        Assert.Equal(0, t.Graph.FopsInFlight);
    }

    [Fact]
    public async Task Setattr_on_a_file_changes_the_size_through_the_fd()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f", new byte[100]);
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDWR));
        var a = TestSession.Ok(await t.Session.SetattrAsync(t.Ctx, file, new SetAttr { Valid = SetAttrValid.Size, Size = 7 }));
        Assert.Equal(7, a.Size);
        Assert.Equal(7, TestSession.Ok(await t.Session.GetattrAsync(t.Ctx, f.Node)).Size);
        await t.Session.ReleaseAsync(file);
    }

    [Fact]
    public async Task Create_on_an_existing_name_opens_that_object_instead_of_swapping_the_fds_inode()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f", "abc"u8.ToArray());
        var c = TestSession.Ok(await t.Session.CreateAsync(t.Ctx, t.Session.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        Assert.Same(f.Node, c.Node);
        Assert.Equal(f.Node.Gfid, c.File.Fd.Inode.Gfid);
        Assert.Equal(3, TestSession.Ok(await t.Session.ReadAsync(t.Ctx, c.File, new byte[8], 0)));
        await t.Session.ReleaseAsync(c.File);
        Assert.Equal(0, t.Graph.Inodes.FdCount);
    }

    [Fact]
    public async Task Opening_a_directory_for_writing_is_refused()
    {
        await using var t = await TestSession.StartAsync();
        Assert.Equal(Errno.EISDIR, (await t.Session.OpenAsync(t.Ctx, t.Session.Root, OpenFlags.O_WRONLY)).Error);
        Assert.Equal(0, t.Graph.Inodes.FdCount);
    }

    [Fact]
    public async Task Dispose_releases_files_still_open_and_destroys_the_graph()
    {
        var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f");
        TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDONLY));
        var releases = t.Brick.Releases;
        await t.DisposeAsync();
        Assert.Equal(releases + 1, t.Brick.Releases);
        Assert.Equal(GraphState.Destroyed, t.Graph.State);
        Assert.True(t.Graph.ParentDownHandled.IsCompleted);
    }
}
