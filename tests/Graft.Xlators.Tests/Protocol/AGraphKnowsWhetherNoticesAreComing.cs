using System.Globalization;
using Graft.Core;
using Graft.Xlators.Performance.MdCache;
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
    private InProcessBrick _brick = null!;
    private readonly List<Graph> _graphs = [];

    public async Task InitializeAsync() => _brick = await InProcessBrick.StartAsync(upcall: true);

    public async Task DisposeAsync()
    {
        foreach (var g in _graphs) await g.StopAsync();
        await _brick.DisposeAsync();
    }

    private int BrickPort => _brick.Port;

    /// <summary>md-cache over protocol/client of the brick (through <paramref name="port"/>), asking for notices or not.</summary>
    private async Task<Graph> ClientAsync(int port, bool upcall)
    {
        var g = _brick.NewClientGraph(new() { ["remote-port"] = port.ToString(CultureInfo.InvariantCulture), ["upcall"] = upcall ? "on" : "off" },
                                      above: MdCacheTranslator.Spec);
        _graphs.Add(g);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None), "client did not come up");
        return g;
    }

    private static Task UntilAsync(Func<bool> cond, string what) => ClientGraphs.Until(cond, what, BoundMs);

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
        Directory.CreateDirectory(Path.Combine(_brick.Temp, "local"));
        var local = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = Path.Combine(_brick.Temp, "local") }),
                                 (MdCacheTranslator.Spec, "md", null));
        _graphs.Add(local);
        Assert.True(await local.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.False(local.NoticesComing);
    }
}
