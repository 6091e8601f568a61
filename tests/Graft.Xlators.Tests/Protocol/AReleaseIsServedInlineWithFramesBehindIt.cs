using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A release (or a flush) that arrives with other frames behind it in one receive is still served on the receive
/// loop: it costs an fstat and a close, and handed to the pool it would also push the request behind it there (a
/// create then finds something in service and is not alone). With one job creating files, the kernel's RELEASE of the
/// last file and the CREATE of the next often reach the brick in one receive: both went to the pool (0.4 creates of
/// 1 on the pool, ~2.5 brick context switches more per create, docs/fuse-benchmark.md "Session 13").
/// </summary>
public class AReleaseIsServedInlineWithFramesBehindIt
{
    [Fact]
    public async Task A_release_followed_by_a_create_in_one_receive_are_both_served_inline()
    {
        await using var brick = await InProcessBrick.StartAsync();
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        var first = await c.ReplyAsync(await c.SendAsync(Create("a")), FopOp.Create);
        Assert.Equal(Errno.OK, first.Error);

        long n = brick.Server.ServedInline;
        var (release, releaseId) = c.Request(new FopRequest(FopOp.Release) { Fd = first.Fd });
        var (create, createId) = c.Request(Create("b"));
        await c.SendAsync([.. release, .. create]);   // one write: the brick reads both frames in one receive

        Assert.Equal(Errno.OK, (await c.ReplyAsync(releaseId, FopOp.Release)).Error);
        var second = await c.ReplyAsync(createId, FopOp.Create);
        Assert.Equal(Errno.OK, second.Error);
        Assert.Equal(n + 2, brick.Server.ServedInline);

        Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Release) { Fd = second.Fd }), FopOp.Release)).Error);
    }

    /// <summary>
    /// The reply of a request served inline with frames behind it waits for the next reply written, to leave with it;
    /// when the request behind goes to the pool (an fsync) and is slow, the receive loop sends the held reply itself
    /// once it has served what it received: it never waits for the slow one.
    /// </summary>
    [Fact]
    public async Task A_held_reply_leaves_when_the_request_behind_it_goes_to_the_pool()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new() { ["drop"] = "fsync", ["drop-count"] = "1" });
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        var a = await c.ReplyAsync(await c.SendAsync(Create("a")), FopOp.Create);
        var b = await c.ReplyAsync(await c.SendAsync(Create("b")), FopOp.Create);
        Assert.Equal(Errno.OK, a.Error);

        var (release, releaseId) = c.Request(new FopRequest(FopOp.Release) { Fd = a.Fd });
        var (fsync, fsyncId) = c.Request(new FopRequest(FopOp.Fsync) { Fd = b.Fd });
        await c.SendAsync([.. release, .. fsync]);
        await ClientGraphs.Until(() => brick.Faults!.HeldCount == 1, "the fsync held in service");
        Assert.Equal(Errno.OK, (await c.ReplyAsync(releaseId, FopOp.Release)).Error);   // while the fsync is still held

        brick.Faults!.ReleaseHeld();
        await c.ReplyAsync(fsyncId, FopOp.Fsync);
        Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Release) { Fd = b.Fd }), FopOp.Release)).Error);
    }

    /// <summary>
    /// An unlink is served inline while another request of its connection is in service, and with frames behind it:
    /// what could wait for the disk (the handle's drop, the inode's freeing) goes behind its reply, and four jobs'
    /// unlinks on one connection went to the pool one hand-off each.
    /// </summary>
    [Fact]
    public async Task An_unlink_is_served_inline_behind_a_request_in_service_and_with_a_frame_behind_it()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new() { ["drop"] = "stat", ["drop-count"] = "1" });
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        foreach (var name in new[] { "a", "b" })
        {
            var made = await c.ReplyAsync(await c.SendAsync(Create(name)), FopOp.Create);
            Assert.Equal(Errno.OK, made.Error);
            Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Release) { Fd = made.Fd }), FopOp.Release)).Error);
        }

        var held = await c.SendAsync(new FopRequest(FopOp.Stat) { Loc = new WireLoc(Gfid.Root, default, null) });
        await ClientGraphs.Until(() => brick.Faults!.HeldCount == 1, "a stat held in service");
        long n = brick.Server.ServedInline;
        var (unlinkA, idA) = c.Request(Unlink("a"));
        var (unlinkB, idB) = c.Request(Unlink("b"));
        await c.SendAsync([.. unlinkA, .. unlinkB]);   // a with b behind it, both while the stat is in service
        Assert.Equal(Errno.OK, (await c.ReplyAsync(idA, FopOp.Unlink)).Error);
        Assert.Equal(Errno.OK, (await c.ReplyAsync(idB, FopOp.Unlink)).Error);
        Assert.Equal(n + 2, brick.Server.ServedInline);

        brick.Faults!.ReleaseHeld();
        await c.ReplyAsync(held, FopOp.Stat);
    }

    /// <summary>What stays as it was: a namespace change with a frame behind it goes to the pool (it may wait for the
    /// disk), and so does the request behind it when that one is not alone.</summary>
    [Fact]
    public async Task A_create_with_a_frame_behind_it_still_goes_to_the_pool()
    {
        await using var brick = await InProcessBrick.StartAsync();
        await using var c = await RawWireClient.ConnectAsync(brick.Port);

        long n = brick.Server.ServedInline;
        var (create, createId) = c.Request(Create("a"));
        var (stat, statId) = c.Request(new FopRequest(FopOp.Stat) { Loc = new WireLoc(Gfid.Root, default, null) });
        await c.SendAsync([.. create, .. stat]);

        var made = await c.ReplyAsync(createId, FopOp.Create);
        Assert.Equal(Errno.OK, made.Error);
        Assert.Equal(Errno.OK, (await c.ReplyAsync(statId, FopOp.Stat)).Error);
        Assert.Equal(n + 1, brick.Server.ServedInline);   // the stat (always inline), not the create
        Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Release) { Fd = made.Fd }), FopOp.Release)).Error);
    }

    private static FopRequest Unlink(string name) => new(FopOp.Unlink) { Loc = new WireLoc(default, Gfid.Root, name) };

    private static FopRequest Create(string name) => new(FopOp.Create)
    {
        Loc = new WireLoc(default, Gfid.Root, name),
        Flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT, Mode = 0x1a4, NewGfid = Gfid.NewGfid(),
    };
}
