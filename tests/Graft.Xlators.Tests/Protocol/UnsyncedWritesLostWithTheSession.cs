using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// When the brick loses a client's session (here: the connection is cut past the brick's grace, as
/// after a brick restart), protocol/client reopens each fd by GFID; an fd whose acknowledged writes
/// no fsync covered gets EIO recorded on its file's write-back errors, for its next fsync and close.
/// An fd whose writes were all fsynced, an O_DSYNC fd, and any fd of a session that was resumed
/// get nothing.
/// </summary>
public class UnsyncedWritesLostWithTheSession
{
    private static async Task<(Graph, ProtocolClient)> ConnectAsync(InProcessBrick brick, TcpProxy proxy)
    {
        var g = brick.NewClientGraph(new()
        {
            ["remote-port"] = proxy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["reconnect-min-backoff"] = "20ms", ["reconnect-max-backoff"] = "100ms",
        });
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        return (g, (ProtocolClient)g.Top);
    }

    private static async Task<Fd> CreateAsync(Graph g, ProtocolClient c, string name, int flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, flags);
        Assert.True((await c.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, name), flags, 0x1a4, 0, gfid, fd)).Ok);
        return fd;
    }

    private static async Task WriteAsync(ProtocolClient c, Fd fd, long at) =>
        Assert.Equal(4, (await c.WritevAsync(FopContext.Root(), fd, "data"u8.ToArray(), at)).Value);

    [Fact]
    public async Task Only_the_fds_with_writes_no_fsync_covered_get_EIO_when_the_session_is_lost()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "0" });
        await using var proxy = new TcpProxy(brick.Port);
        var (g, c) = await ConnectAsync(brick, proxy);
        var unsynced = await CreateAsync(g, c, "unsynced");
        var synced = await CreateAsync(g, c, "synced");
        var writtenAfterFsync = await CreateAsync(g, c, "after");
        var dsync = await CreateAsync(g, c, "dsync", OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_DSYNC);
        var untouched = await CreateAsync(g, c, "untouched");
        await WriteAsync(c, unsynced, 0);
        await WriteAsync(c, synced, 0);
        Assert.Equal(Errno.OK, await c.FsyncAsync(FopContext.Root(), synced, dataOnly: true));
        await WriteAsync(c, writtenAfterFsync, 0);
        Assert.Equal(Errno.OK, await c.FsyncAsync(FopContext.Root(), writtenAfterFsync, dataOnly: false));
        await WriteAsync(c, writtenAfterFsync, 4);
        await WriteAsync(c, dsync, 0);

        proxy.Refusing = true;
        proxy.CutAll();
        await ClientGraphs.Until(() => brick.Server.TotalFds == 0, "the brick dropped the session (no grace)");
        proxy.Refusing = false;
        await ClientGraphs.Until(() => c.Resets >= 1 && c.IsConnected, "reconnected without the session");

        Assert.Equal(Errno.EIO, unsynced.TakeWriteBackError());
        Assert.Equal(Errno.EIO, writtenAfterFsync.TakeWriteBackError());
        Assert.Equal(Errno.OK, synced.TakeWriteBackError());
        Assert.Equal(Errno.OK, dsync.TakeWriteBackError());
        Assert.Equal(Errno.OK, untouched.TakeWriteBackError());

        // The reopened fd goes on; its new writes are at risk only until the next fsync.
        await WriteAsync(c, unsynced, 4);
        Assert.Equal(Errno.OK, await c.FsyncAsync(FopContext.Root(), unsynced, dataOnly: false));
        Assert.Equal(Errno.EIO, unsynced.WriteBackErrorSinceOpen); // close still says so
        foreach (var fd in new[] { unsynced, synced, writtenAfterFsync, dsync, untouched }) await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    [Fact]
    public async Task A_resumed_session_loses_nothing_and_records_nothing()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "30" });
        await using var proxy = new TcpProxy(brick.Port);
        var (g, c) = await ConnectAsync(brick, proxy);
        var fd = await CreateAsync(g, c, "f");
        await WriteAsync(c, fd, 0);

        proxy.CutAll();
        await ClientGraphs.Until(() => c.Connects >= 2 && c.IsConnected, "reconnected");
        Assert.Equal(0, c.Resets);
        Assert.Equal(Errno.OK, fd.TakeWriteBackError());
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }
}
