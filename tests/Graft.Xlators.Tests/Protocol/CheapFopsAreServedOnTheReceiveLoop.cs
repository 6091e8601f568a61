using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// protocol/server's inline-fops: a cheap fop that arrives with nothing behind it (a stat, a 4 KiB write) is served on
/// its connection's receive loop, with no thread hand-off, and counted in <c>ServedInline</c>; an fsync, a big write
/// and a truncate never are (they may hold their thread), nor is anything with inline-fops off or with io-threads.
/// Requests here go one at a time, so each arrives alone.
/// </summary>
public class CheapFopsAreServedOnTheReceiveLoop
{
    [Fact]
    public async Task A_stat_and_a_small_write_are_served_inline_an_fsync_a_big_write_and_a_truncate_never()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fd, gfid) = await m.CreateAsync("f");
        var top = m.Graph.Top;

        long n = brick.Server.ServedInline;
        Assert.True((await top.StatAsync(m.Ctx(), Loc.Nameless(gfid))).Ok);
        Assert.Equal(n + 1, brick.Server.ServedInline);
        Assert.Equal(4096, (await top.WritevAsync(m.Ctx(), fd, new byte[4096], 0)).Value);
        Assert.Equal(n + 2, brick.Server.ServedInline);

        Assert.Equal(Errno.OK, await top.FsyncAsync(m.Ctx(), fd, dataOnly: false));
        Assert.Equal(1 << 20, (await top.WritevAsync(m.Ctx(), fd, new byte[1 << 20], 0)).Value);
        Assert.True((await top.FsetattrAsync(m.Ctx(), fd, new SetAttr { Valid = SetAttrValid.Size, Size = 0 })).Ok);
        Assert.Equal(n + 2, brick.Server.ServedInline);

        await m.ReleaseAsync(fd);
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
        Assert.Equal(4096, (await m.Graph.Top.WritevAsync(m.Ctx(), fd, new byte[4096], 0)).Value);

        Assert.Equal(0, brick.Server.ServedInline);
        await m.ReleaseAsync(fd);
        await m.StopAsync();
    }
}
