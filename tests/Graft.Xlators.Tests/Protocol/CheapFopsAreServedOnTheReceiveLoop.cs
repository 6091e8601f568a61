using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// protocol/server's inline-fops: a cheap metadata fop that arrives with nothing behind it (a stat, a non-blocking
/// inodelk-xattrop and its unlock) is served on its connection's receive loop, with no thread hand-off, and counted in
/// <c>ServedInline</c>; so is a small buffered write while nothing else of its connection is in service (the write a
/// close waits for after a create). Reads, big writes, writes through an O_DSYNC fd (they wait for the disk), an fsync
/// and a truncate never are (the jobs sharing a connection issue I/O side by side, and an fsync may hold its thread),
/// nor is anything with inline-fops off or with io-threads. Requests here go one at a time, so each arrives alone.
/// </summary>
public class CheapFopsAreServedOnTheReceiveLoop
{
    [Fact]
    public async Task A_stat_a_lock_with_its_xattrop_and_a_lone_small_write_are_served_inline_reads_big_or_sync_writes_an_fsync_and_a_truncate_never()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: []);
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fd, gfid) = await m.CreateAsync("f");
        var top = m.Graph.Top;

        long n = brick.Server.ServedInline;
        Assert.True((await top.StatAsync(m.Ctx(), Loc.Nameless(gfid))).Ok);
        Assert.Equal(n + 1, brick.Server.ServedInline);
        var delta = new byte[8];
        delta[7] = 1;
        foreach (var cmd in new[] { DomainLockCmd.Lock, DomainLockCmd.Unlock })
        {
            var r = await top.InodeLkXattropAsync(m.Ctx(owner: 7), Loc.Nameless(gfid), "test", cmd, LockType.Write, 0, 0, "trusted.graft.pending.b0", delta);
            Assert.True(r.Ok, $"{cmd}: {r.Error}");
        }
        Assert.Equal(n + 3, brick.Server.ServedInline);
        Assert.Equal(4096, (await top.WritevAsync(m.Ctx(), fd, new byte[4096], 0)).Value);
        Assert.Equal(n + 4, brick.Server.ServedInline);

        Assert.Equal(4096, (await top.ReadvAsync(m.Ctx(), fd, new byte[4096], 0)).Value);
        Assert.Equal(Errno.OK, await top.FsyncAsync(m.Ctx(), fd, dataOnly: false));
        Assert.Equal(1 << 20, (await top.WritevAsync(m.Ctx(), fd, new byte[1 << 20], 0)).Value);
        Assert.True((await top.FsetattrAsync(m.Ctx(), fd, new SetAttr { Valid = SetAttrValid.Size, Size = 0 })).Ok);
        var sync = await m.OpenAsync(gfid, OpenFlags.O_RDWR | OpenFlags.O_DSYNC);
        long opened = brick.Server.ServedInline;   // the open itself is served inline
        Assert.Equal(4096, (await top.WritevAsync(m.Ctx(), sync, new byte[4096], 0)).Value);
        Assert.Equal(opened, brick.Server.ServedInline);
        Assert.Equal(n + 5, opened);

        await m.ReleaseAsync(sync);
        await m.ReleaseAsync(fd);
        await m.StopAsync();
    }

    /// <summary>
    /// A namespace change may wait for the disk (directory blocks, GFID handle directories after the page cache was
    /// dropped), so it is served inline only while nothing else of its connection is in service: alone, no hand-off;
    /// behind another request, on the pool, where several overlap their waits. A lookup is served inline either way.
    /// </summary>
    [Fact]
    public async Task A_namespace_change_is_served_inline_only_while_nothing_else_of_its_connection_is_in_service()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new() { ["drop"] = "stat", ["drop-count"] = "1" });
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var top = m.Graph.Top;

        long n = brick.Server.ServedInline;
        Assert.True((await top.MkdirAsync(m.Ctx(), Loc.Child(Gfid.Root, "alone"), 0x1ed, 0, Gfid.NewGfid())).Ok);
        Assert.Equal(n + 1, brick.Server.ServedInline);

        var held = top.StatAsync(m.Ctx(), Loc.Nameless(Gfid.Root)).AsTask();
        await ClientGraphs.Until(() => brick.Faults!.HeldCount == 1, "a stat held in service");
        n = brick.Server.ServedInline;
        Assert.True((await top.MkdirAsync(m.Ctx(), Loc.Child(Gfid.Root, "behind"), 0x1ed, 0, Gfid.NewGfid())).Ok);
        Assert.Equal(Errno.OK, await top.RmdirAsync(m.Ctx(), Loc.Child(Gfid.Root, "alone")));
        Assert.Equal(n, brick.Server.ServedInline);
        Assert.True((await top.LookupAsync(m.Ctx(), Loc.Child(Gfid.Root, "behind"))).Ok);
        Assert.Equal(n + 1, brick.Server.ServedInline);

        brick.Faults!.ReleaseHeld();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
        await m.StopAsync();
    }

    [Theory]
    [InlineData("inline-fops", "off")]
    [InlineData("io-threads", "2")]
    public async Task Nothing_is_served_inline_with(string option, string value)
    {
        await using var brick = await InProcessBrick.StartAsync(new() { [option] = value });
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fd, gfid) = await m.CreateAsync("f");
        Assert.True((await m.Graph.Top.StatAsync(m.Ctx(), Loc.Nameless(gfid))).Ok);
        Assert.Equal(Errno.OK, await m.Graph.Top.AccessAsync(m.Ctx(), Loc.Nameless(gfid), 4));

        Assert.Equal(0, brick.Server.ServedInline);
        await m.ReleaseAsync(fd);
        await m.StopAsync();
    }
}
