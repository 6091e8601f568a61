using System.Globalization;
using Graft.Core;
using Graft.Xlators.Features.Upcall;
using Graft.Xlators.Performance.MdCache;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Server;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// <see cref="Graph.NoticesComing"/>, which lets the FUSE bridge give the kernel longer cache lifetimes: true only
/// while the brick below sends the client invalidation notices on its current connection (features/upcall, the
/// client's `upcall on`); false for a client that did not ask for them, while its connection is cut, and for a graph
/// over a local storage/posix, which no other client's change reaches as a notice.
/// </summary>
public sealed class AGraphKnowsWhetherNoticesAreComing : IAsyncLifetime
{
    private const int BoundMs = 15_000;
    private string _temp = "";
    private Graph _brick = null!;
    private readonly List<Graph> _graphs = [];

    public async Task InitializeAsync()
    {
        _temp = Path.Combine(Path.GetTempPath(), "graft-notices-tests", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(Path.Combine(_temp, "brick"));
        _brick = Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", new Dictionary<string, string> { ["directory"] = Path.Combine(_temp, "brick") }),
                              (UpcallTranslator.Spec, "brick", null),
                              (ProtocolServer.Spec, "server", new Dictionary<string, string> { ["secret-file"] = TestSecret.File }));
        Assert.True(await _brick.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        foreach (var g in _graphs) await g.StopAsync();
        _brick.SendParentDown();
        await _brick.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(10));
        await _brick.DestroyAsync();
        try { Directory.Delete(_temp, recursive: true); } catch (IOException) { }
    }

    private int BrickPort => ((ProtocolServer)_brick.Top).LocalEndPoint!.Port;

    /// <summary>md-cache over protocol/client of the brick (through <paramref name="port"/>), asking for notices or not.</summary>
    private async Task<Graph> ClientAsync(int port, bool upcall)
    {
        var o = new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1",
            ["remote-port"] = port.ToString(CultureInfo.InvariantCulture),
            ["remote-subvolume"] = "brick",
            ["secret-file"] = TestSecret.File,
            ["upcall"] = upcall ? "on" : "off",
        };
        var g = Graph.Linear(1, (ProtocolClient.Spec, "client", o), (MdCacheTranslator.Spec, "md", null));
        _graphs.Add(g);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None), "client did not come up");
        return g;
    }

    private static async Task UntilAsync(Func<bool> cond, string what)
    {
        var deadline = Environment.TickCount64 + BoundMs;
        while (!cond())
        {
            Assert.True(Environment.TickCount64 < deadline, $"{what} not within {BoundMs} ms");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Only_while_the_brick_sends_them_on_the_current_connection()
    {
        var asked = await ClientAsync(BrickPort, upcall: true);
        Assert.True(asked.NoticesComing);
        var notAsked = await ClientAsync(BrickPort, upcall: false);
        Assert.False(notAsked.NoticesComing);

        // Cut: none come until the client has connected again (and been granted them again).
        await using var proxy = new TcpProxy(BrickPort);
        var through = await ClientAsync(proxy.Port, upcall: true);
        Assert.True(through.NoticesComing);
        proxy.Refusing = true;
        proxy.CutAll();
        await UntilAsync(() => !through.NoticesComing, "no notices after the cut");
        proxy.Refusing = false;
        await UntilAsync(() => through.NoticesComing, "notices again after the reconnect");
    }

    [Fact]
    public async Task Never_over_a_local_brick()
    {
        Directory.CreateDirectory(Path.Combine(_temp, "local"));
        var local = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = Path.Combine(_temp, "local") }),
                                 (MdCacheTranslator.Spec, "md", null));
        _graphs.Add(local);
        Assert.True(await local.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.False(local.NoticesComing);
    }
}
