using System.Net;
using System.Net.Sockets;
using Graft.Client;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Switching;

/// <summary>A new graph whose brick is not reachable yet never takes the old graph's place early.</summary>
public class APendingGraph
{
    private static string Volfile(int port, string brick, bool passthrough) => $"""
        volume client
            type protocol/client
            option remote-host 127.0.0.1
            option remote-port {port}
            option remote-subvolume {brick}
            option secret-file {TestSecret.File}
            option reconnect-min-backoff 50ms
            option reconnect-max-backoff 200ms
        end-volume
        {(passthrough ? "volume top\n    type debug/passthrough\n    subvolumes client\nend-volume\n" : "")}
        """;

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    // The first graph's CHILD_UP can take longer than the short ChildUpTimeout these tests need for
    // the *switch* (a graph whose brick is not up must be found pending quickly) when the machine is
    // loaded: the open is tried again, within a bound, until the brick (which is listening) answers.
    private static async Task<Volume> OpenUpAsync(string volfile, TimeSpan childUpTimeout)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                return await Volume.OpenVolfileTextAsync(volfile, "client.vol", new VolumeOptions { ChildUpTimeout = childUpTimeout });
            }
            catch (GraftIOException e) when (e.Errno == Graft.Core.Errno.ENOTCONN && DateTime.UtcNow < until) { }
        }
    }

    [Fact]
    public async Task Waits_for_its_brick_while_the_old_graph_serves_then_takes_over_when_it_comes_up()
    {
        var dir = BrickProcess.NewTempDir();
        var name = Path.GetFileName(dir);
        await using var first = await BrickProcess.ServeDirAsync(dir);
        await using var v = await OpenUpAsync(Volfile(first.Port, name, false), TimeSpan.FromSeconds(2));
        await using var s = await v.OpenAsync("/f", Graft.Core.OpenFlags.O_CREAT | Graft.Core.OpenFlags.O_RDWR);
        await s.WriteAsync("one,"u8.ToArray());

        var port = FreePort(); // nobody listens there yet
        var r = await v.ApplyVolfileAsync(Volfile(port, name, true), "client.vol");
        Assert.Equal(SwitchOutcome.Pending, r.Outcome);
        Assert.Contains("not up", v.GetState().LastVolfileError!.Message);
        Assert.Equal(1, v.GetState().ActiveGeneration);
        await s.WriteAsync("two,"u8.ToArray()); // the old graph keeps serving

        await using var second = await BrickProcess.ServeDirAsync(dir, port); // the new graph's brick comes up
        await NetClient.Until(() => v.GetState().ActiveGeneration == 2, "the pending graph to become active");
        Assert.Null(v.GetState().LastVolfileError);
        await s.WriteAsync("three"u8.ToArray());
        Assert.Equal(2, s.Handle.Fd.Graph!.Generation);
        Assert.Equal("one,two,three", File.ReadAllText(Path.Combine(dir, "f")));
        await s.DisposeAsync(); // closed while its brick still runs (disposal order would stop the brick first)
    }

    [Fact]
    public async Task Is_superseded_by_a_newer_volfile_before_it_ever_becomes_active()
    {
        var dir = BrickProcess.NewTempDir();
        var name = Path.GetFileName(dir);
        await using var brick = await BrickProcess.ServeDirAsync(dir);
        // 5 s: the switch to the working brick below must find it up within this bound under load too.
        await using var v = await OpenUpAsync(Volfile(brick.Port, name, false), TimeSpan.FromSeconds(5));
        var dead = FreePort();
        Assert.Equal(SwitchOutcome.Pending, (await v.ApplyVolfileAsync(Volfile(dead, name, true))).Outcome);
        Assert.Equal(2, v.Session.Graphs.Count);
        // A newer volfile (the working brick, another shape) wins; the pending graph is dropped.
        var r = await v.ApplyVolfileAsync(Volfile(brick.Port, name, true));
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        Assert.Equal(3, v.GetState().ActiveGeneration);
        await using var late = await BrickProcess.ServeDirAsync(dir, dead); // too late: generation 2 is gone
        await NetClient.Until(() => v.Session.Graphs.Count == 1, "the superseded and the old graph to be freed");
        Assert.Equal(3, v.GetState().ActiveGeneration);
    }
}
