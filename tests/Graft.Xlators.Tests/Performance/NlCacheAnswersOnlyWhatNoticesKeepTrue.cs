using Graft.Core;
using Graft.Xlators.Performance.NlCache;
using Graft.Xlators.Tests.Protocol;

namespace Graft.Xlators.Tests.Performance;

/// <summary>
/// performance/nl-cache over protocol/client, against a brick with features/upcall, over real sockets: the lookup of
/// an absent name in a directory the client made, or listed whole, is answered ENOENT without the brick; a name
/// another mount adds there reaches it as a notice and is then found; an own create is known at once. Without notices
/// (the client's upcall off) it answers nothing, and a listing that skipped a page teaches nothing.
/// </summary>
public sealed class NlCacheAnswersOnlyWhatNoticesKeepTrue : IAsyncLifetime
{
    private const int NoticeBoundMs = 10_000;
    private InProcessBrick _brick = null!;
    private readonly List<Graph> _clients = [];

    public async Task InitializeAsync() => _brick = await InProcessBrick.StartAsync(upcall: true);

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) await c.StopAsync();
        await _brick.DisposeAsync();
    }

    /// <summary>A mount of its own (its identity) whose graph is nl-cache over protocol/client.</summary>
    private async Task<(Graph Graph, NlCacheTranslator Nl)> MountAsync(bool upcall = true)
    {
        var g = _brick.NewClientGraph(new() { ["mount-identity"] = Guid.NewGuid().ToString(), ["upcall"] = upcall ? "on" : "off" },
                                      above: NlCacheTranslator.Spec);
        _clients.Add(g);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None), "client did not come up");
        return (g, (NlCacheTranslator)g.Top);
    }

    private static async Task<Gfid> MkdirAsync(Graph g, Gfid parent, string name)
    {
        var gfid = Gfid.NewGfid();
        var r = await g.Top.MkdirAsync(FopContext.Root(), Loc.Child(parent, name), 0x1ed, 0, gfid);
        Assert.True(r.Ok, r.Error.Name());
        return gfid;
    }

    private static async Task<Errno> MknodAsync(Graph g, Gfid parent, string name) =>
        (await g.Top.MknodAsync(FopContext.Root(), Loc.Child(parent, name), PosixMode.S_IFREG | 0x1a4, 0, 0, Gfid.NewGfid())).Error;

    private static async Task<Errno> LookupAsync(Graph g, Gfid parent, string name) =>
        (await g.Top.LookupAsync(FopContext.Root(), Loc.Child(parent, name))).Error;

    [Fact]
    public async Task A_directory_made_here_answers_absent_names_until_another_mount_adds_one()
    {
        var (a, nl) = await MountAsync();
        var (b, _) = await MountAsync();
        var d = await MkdirAsync(a, Gfid.Root, "d");

        Assert.Equal(Errno.ENOENT, await LookupAsync(a, d, "x"));
        Assert.Equal(1, nl.Hits);
        // An own create is known at once: its name goes to the brick, an absent one is still answered here.
        Assert.Equal(Errno.OK, await MknodAsync(a, d, "mine"));
        Assert.Equal(Errno.OK, await LookupAsync(a, d, "mine"));
        Assert.Equal(Errno.ENOENT, await LookupAsync(a, d, "y"));
        Assert.Equal(2, nl.Hits);

        Assert.Equal(Errno.OK, await MknodAsync(b, d, "x"));
        var deadline = Environment.TickCount64 + NoticeBoundMs;
        while (await LookupAsync(a, d, "x") != Errno.OK)
        {
            Assert.True(Environment.TickCount64 < deadline, "x, made by the other mount, not found within the notice bound");
            await Task.Delay(10);
        }
        Assert.True(nl.Forgotten >= 1);
    }

    [Fact]
    public async Task A_directory_listed_whole_is_known_and_one_listed_in_part_is_not()
    {
        var (a, nl) = await MountAsync();
        var (b, _) = await MountAsync();
        var d = await MkdirAsync(b, Gfid.Root, "d");
        for (int i = 0; i < 5; i++) Assert.Equal(Errno.OK, await MknodAsync(b, d, $"f{i}"));

        // In part: the first page only, then a page that does not follow it.
        var fd = await OpendirAsync(a, d);
        var first = await a.Top.ReaddirpAsync(FopContext.Root(), fd, 0, 2);
        Assert.True(first.Ok && first.Value.Count > 0);
        _ = await a.Top.ReaddirpAsync(FopContext.Root(), fd, first.Value[^1].NextOffset + 1, 100);
        Assert.Equal(Errno.ENOENT, await LookupAsync(a, d, "nope"));
        Assert.Equal(0, nl.Hits);

        // Whole: page after page to the end.
        var names = new List<string>();
        long offset = 0;
        while (true)
        {
            var page = await a.Top.ReaddirpAsync(FopContext.Root(), fd, offset, 2);
            Assert.True(page.Ok, page.Error.Name());
            if (page.Value.Count == 0) break;
            names.AddRange(page.Value.Select(e => e.Name));
            offset = page.Value[^1].NextOffset;
        }
        Assert.Contains("f4", names);
        Assert.Equal(Errno.ENOENT, await LookupAsync(a, d, "nope"));
        Assert.Equal(1, nl.Hits);
        Assert.Equal(Errno.OK, await LookupAsync(a, d, "f3"));
        await a.Top.ReleasedirAsync(fd);
    }

    [Fact]
    public async Task Without_notices_nothing_is_answered()
    {
        var (a, nl) = await MountAsync(upcall: false);
        var d = await MkdirAsync(a, Gfid.Root, "d");
        Assert.Equal(Errno.ENOENT, await LookupAsync(a, d, "x"));
        Assert.Equal(0, nl.Hits);
        Assert.Equal(0, nl.Learned);
    }

    private static async Task<Fd> OpendirAsync(Graph g, Gfid dir)
    {
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = dir, Mode = PosixMode.S_IFDIR }, 0);
        Assert.Equal(Errno.OK, await g.Top.OpendirAsync(FopContext.Root(), Loc.Nameless(dir), fd));
        return fd;
    }
}
