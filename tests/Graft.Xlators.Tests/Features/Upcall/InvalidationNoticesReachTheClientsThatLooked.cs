using Graft.Core;
using Graft.Xlators.Features.Upcall;
using Graft.Xlators.Tests.Protocol;

namespace Graft.Xlators.Tests.Features.Upcall;

/// <summary>
/// features/upcall under protocol/server, over real sockets: a change by one client reaches, as a notice, each
/// other client that looked at the object (or the directory, for a name) and asked for notices at its handshake;
/// never the client that made the change, never a client that did not ask.
/// </summary>
public sealed class InvalidationNoticesReachTheClientsThatLooked : IAsyncLifetime
{
    /// <summary>How long a notice may take to cross the loopback and a loaded machine's thread pool.</summary>
    private const int NoticeBoundMs = 10_000;

    private InProcessBrick _brick = null!;
    private readonly List<WireMount> _mounts = [];

    public async Task InitializeAsync() => _brick = await InProcessBrick.StartAsync(upcall: true);

    public async Task DisposeAsync()
    {
        foreach (var m in _mounts) await m.StopAsync();
        await _brick.DisposeAsync();
    }

    private int Port => _brick.Port;

    private async Task<(WireMount Mount, List<UpcallNotice> Notices)> ClientAsync(bool upcall)
    {
        var m = await WireMount.ConnectAsync(Port, "brick", Guid.NewGuid(), options: new() { ["upcall"] = upcall ? "on" : "off" });
        _mounts.Add(m);
        var notices = new List<UpcallNotice>();
        m.Graph.Upcall += n => { lock (notices) notices.Add(n); };
        return (m, notices);
    }

    private static bool Has(List<UpcallNotice> notices, UpcallNotice n) { lock (notices) return notices.Contains(n); }

    private static int Count(List<UpcallNotice> notices) { lock (notices) return notices.Count; }

    /// <summary>A round trip on <paramref name="m"/>'s connection: a notice queued for it before this call's reply was read before it.</summary>
    private static async Task RoundTrip(WireMount m) => Assert.True((await m.Graph.Top.StatAsync(m.Ctx(), Loc.Nameless(Gfid.Root))).Ok);

    [Fact]
    public async Task Attributes_names_unlinks_and_renames_reach_the_watchers_only()
    {
        var (a, toA) = await ClientAsync(upcall: true);
        var (b, toB) = await ClientAsync(upcall: true);
        var (c, toC) = await ClientAsync(upcall: false);

        var (fd, f) = await b.CreateAsync("f");
        await b.ReleaseAsync(fd);
        Assert.True((await a.Graph.Top.LookupAsync(a.Ctx(), Loc.Child(Gfid.Root, "f"))).Ok);
        Assert.True((await c.Graph.Top.LookupAsync(c.Ctx(), Loc.Child(Gfid.Root, "f"))).Ok);

        // An attribute: A looked at f, so A hears of it.
        Assert.True((await b.Graph.Top.SetattrAsync(b.Ctx(), Loc.Nameless(f), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x180 })).Ok);
        await ClientGraphs.Until(() => Has(toA, UpcallNotice.Inode(f, data: false)), "A's notice of f's new mode", NoticeBoundMs);

        // A name that did not exist when A looked for it (the kernel caches that too).
        Assert.Equal(Errno.ENOENT, (await a.Graph.Top.LookupAsync(a.Ctx(), Loc.Child(Gfid.Root, "g"))).Error);
        var (gfd, _) = await b.CreateAsync("g");
        await b.ReleaseAsync(gfd);
        await ClientGraphs.Until(() => Has(toA, UpcallNotice.Entry(Gfid.Root, "g")), "A's notice of the name g", NoticeBoundMs);

        // An unlink: the name, and the object.
        Assert.Equal(Errno.OK, await b.Graph.Top.UnlinkAsync(b.Ctx(), Loc.Child(Gfid.Root, "f")));
        await ClientGraphs.Until(() => Has(toA, UpcallNotice.Entry(Gfid.Root, "f")), "A's notice of f's unlink", NoticeBoundMs);

        // A rename: both names (g's second notice, h's first).
        Assert.True((await b.Graph.Top.RenameAsync(b.Ctx(), Loc.Child(Gfid.Root, "g"), Loc.Child(Gfid.Root, "h"), RenameFlags.None)).Ok);
        await ClientGraphs.Until(() => Locked(toA).Count(n => n == UpcallNotice.Entry(Gfid.Root, "g")) == 2 && Has(toA, UpcallNotice.Entry(Gfid.Root, "h")),
                                 "A's notices of the rename g -> h", NoticeBoundMs);

        // Whatever the brick sent C or B was queued before the reply to their next call: after it, nothing came.
        await RoundTrip(c);
        await RoundTrip(b);
        Assert.Equal(0, Count(toC));
        Assert.Equal(0, Count(toB));
    }

    [Fact]
    public async Task A_write_tells_the_readers_that_the_data_changed_and_the_writer_nothing()
    {
        var (a, toA) = await ClientAsync(upcall: true);
        var (b, toB) = await ClientAsync(upcall: true);
        var (fd, f) = await b.CreateAsync("w");
        var afd = await a.OpenAsync(f);
        Assert.True((await a.Graph.Top.ReadvAsync(a.Ctx(), afd, new byte[16], 0)).Ok);

        Assert.True((await b.Graph.Top.WritevAsync(b.Ctx(), fd, "hello"u8.ToArray(), 0)).Ok);
        await ClientGraphs.Until(() => Has(toA, UpcallNotice.Inode(f, data: true)), "A's notice of the write", NoticeBoundMs);
        await RoundTrip(b);
        Assert.Equal(0, Count(toB));
        await a.ReleaseAsync(afd);
        await b.ReleaseAsync(fd);
    }

    private static UpcallNotice[] Locked(List<UpcallNotice> notices) { lock (notices) return [.. notices]; }
}
