using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>protocol/client ↔ protocol/server over a loopback socket in one process, storage/posix underneath.</summary>
public class EveryFopOverLoopback
{
    [Fact]
    public async Task Every_fop_round_trips_through_client_and_server()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, _) = await brick.ConnectAsync();
        await FopScenario.RunAsync(g.Top, g.Inodes);
        await g.StopAsync();
    }

    [Fact]
    public async Task The_callers_identity_reaches_the_brick()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, _) = await brick.ConnectAsync();
        await FopScenario.CallerIdentityReachesTheBrickAsync(g.Top, brick.Graph.Top.FirstChild);
        await g.StopAsync();
    }

    [Fact]
    public async Task Large_io_is_split_into_frames_and_reassembled()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync();
        await FopScenario.Release(c, await LargeIoRoundTripAsync(g, c));
        await g.StopAsync();
    }

    /// <summary>Writes 3 MiB and a bit to a new file and reads it back whole; returns the still open fd.</summary>
    internal static async Task<Fd> LargeIoRoundTripAsync(Graph g, ProtocolClient c)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, "big"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        var data = new byte[3 * (1 << 20) + 12345];
        new Random(7).NextBytes(data);
        Assert.Equal(data.Length, (await c.WritevAsync(FopContext.Root(), fd, data, 0)).Value);
        var back = new byte[data.Length];
        Assert.Equal(data.Length, (await c.ReadvAsync(FopContext.Root(), fd, back, 0)).Value);
        Assert.Equal(data, back);
        return fd;
    }

    [Fact]
    public async Task Concurrent_calls_are_multiplexed_on_one_connection()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync();
        var tasks = Enumerable.Range(0, 64).Select(async i =>
        {
            var r = await c.MkdirAsync(FopContext.Root(), Loc.Child(Gfid.Root, $"d{i}"), 0x1ed, 0, Gfid.NewGfid());
            Assert.True(r.Ok, r.Error.Name());
            var s = await c.LookupAsync(FopContext.Root(), Loc.Child(Gfid.Root, $"d{i}"));
            Assert.Equal(r.Value.Gfid, s.Value.Gfid);
        });
        await Task.WhenAll(tasks);
        Assert.Equal(1, brick.Server.ConnectionCount);
        await g.StopAsync();
    }
}
