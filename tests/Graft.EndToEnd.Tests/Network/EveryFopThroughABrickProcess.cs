using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>Every fop from a client graph in this process to `graft brick` in another, over loopback.</summary>
public class EveryFopThroughABrickProcess
{
    [Fact]
    public async Task Every_fop_goes_over_the_wire_and_back()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "vol1");
        Directory.CreateDirectory(dir);
        await using var brick = await BrickProcess.ServeDirAsync(dir);
        var g = await NetClient.ConnectAsync(brick.Port, "vol1");
        await FopScenario.RunAsync(g.Top, g.Inodes);
        await FopScenario.CallerIdentityReachesTheBrickAsync(g.Top);
        await g.StopAsync();
        Assert.Equal(0, await brick.StopAsync());
        Assert.Contains(brick.Log, l => l == "out: stopped");
        Directory.Delete(temp, true);
    }

    [Fact]
    public async Task A_brick_name_the_server_does_not_have_is_refused()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "real");
        var g = NetClient.NewGraph(brick.Port, "other");
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
        var c = (Graft.Xlators.Protocol.Client.ProtocolClient)g.Top;
        await NetClient.Until(() => c.LastConnectError == Graft.Core.Errno.ENOENT, "ENOENT from the handshake");
        await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
