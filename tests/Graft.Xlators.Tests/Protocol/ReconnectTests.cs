using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A connection cut by the network (no goodbye): the brick keeps the client's fds for the grace
/// period, so a quick reconnect resumes the session with the same remote fds; after the grace
/// they are released and the client reopens its fds by GFID instead. Either way the open fd works.
/// </summary>
public class ReconnectAfterACutConnection
{
    private static async Task<(Graph, ProtocolClient, Fd)> OpenThroughAsync(InProcessBrick brick, TcpProxy proxy)
    {
        var g = brick.NewClientGraph(new()
        {
            ["remote-port"] = proxy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["reconnect-min-backoff"] = "20ms", ["reconnect-max-backoff"] = "100ms",
        });
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        var c = (ProtocolClient)g.Top;
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_TRUNC);
        Assert.True((await c.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, "f"), fd.Flags, 0x1a4, 0, gfid, fd)).Ok);
        Assert.Equal(5, (await c.WritevAsync(FopContext.Root(), fd, "hello"u8.ToArray(), 0)).Value);
        return (g, c, fd);
    }

    [Fact]
    public async Task A_reconnect_within_the_grace_resumes_the_session_and_its_fds()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "30" });
        await using var proxy = new TcpProxy(brick.Port);
        var (g, c, fd) = await OpenThroughAsync(brick, proxy);
        Assert.Equal(1, brick.Server.TotalFds);

        proxy.CutAll();
        await ClientGraphs.Until(() => c.Connects >= 2 && c.IsConnected, "reconnected");

        // Resumed: the brick still has exactly the one fd (no reopen made a second).
        Assert.Equal(1, brick.Server.SessionCount);
        Assert.Equal(1, brick.Server.TotalFds);
        Assert.Equal(6, (await c.WritevAsync(FopContext.Root(), fd, " world"u8.ToArray(), 5)).Value);
        Assert.Equal(11, (await c.FstatAsync(FopContext.Root(), fd)).Value.Size);
        await FopScenario.Release(c, fd);
        Assert.Equal(0, brick.Server.TotalFds);
        await g.StopAsync();
        await ClientGraphs.Until(() => brick.Server.SessionCount == 0, "session freed by goodbye");
    }

    [Fact]
    public async Task After_the_grace_the_brick_releases_the_fds_and_the_client_reopens_by_gfid()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "200ms" });
        await using var proxy = new TcpProxy(brick.Port);
        var (g, c, fd) = await OpenThroughAsync(brick, proxy);

        proxy.Refusing = true;
        proxy.CutAll();
        await ClientGraphs.Until(() => brick.Server.SessionCount == 0 && brick.Server.TotalFds == 0, "grace expired, fds released");
        proxy.Refusing = false;
        await ClientGraphs.Until(() => c.Connects >= 2 && c.IsConnected, "reconnected");

        Assert.Equal(1, brick.Server.TotalFds);   // reopened
        // Reopened without O_TRUNC: the data is still there, and the same fd keeps writing.
        var buf = new byte[16];
        Assert.Equal(5, (await c.ReadvAsync(FopContext.Root(), fd, buf, 0)).Value);
        Assert.Equal(5, (await c.WritevAsync(FopContext.Root(), fd, "HELLO"u8.ToArray(), 5)).Value);
        Assert.Equal(10, (await c.FstatAsync(FopContext.Root(), fd)).Value.Size);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    [Fact]
    public async Task An_fd_whose_file_is_gone_fails_with_ebadf_after_reconnect_and_others_carry_on()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "0" });
        await using var proxy = new TcpProxy(brick.Port);
        var (g, c, fd) = await OpenThroughAsync(brick, proxy);
        var other = Gfid.NewGfid();
        var fd2 = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = other, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR | OpenFlags.O_CREAT);
        Assert.True((await c.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, "g"), fd2.Flags, 0x1a4, 0, other, fd2)).Ok);

        proxy.Refusing = true;
        proxy.CutAll();
        await ClientGraphs.Until(() => brick.Server.TotalFds == 0, "fds released at once (no grace)");
        // Another client removes the file while this one is disconnected.
        var (other2, _) = await brick.ConnectAsync();
        Assert.Equal(Errno.OK, await other2.Top.UnlinkAsync(FopContext.Root(), Loc.Child(Gfid.Root, "f")));
        await other2.StopAsync();
        proxy.Refusing = false;
        await ClientGraphs.Until(() => c.Connects >= 2 && c.IsConnected, "reconnected");

        Assert.Equal(Errno.EBADF, (await c.FstatAsync(FopContext.Root(), fd)).Error);
        Assert.True((await c.FstatAsync(FopContext.Root(), fd2)).Ok);
        await FopScenario.Release(c, fd);
        await FopScenario.Release(c, fd2);
        await g.StopAsync();
    }
}
