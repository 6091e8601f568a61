using Graft.Core;
using Graft.Xlators.Features.Upcall;
using Graft.Xlators.Storage.Posix;
using Graft.Xlators.Tests.Protocol;

namespace Graft.Xlators.Tests.Features.Upcall;

/// <summary>
/// features/upcall's memory is bounded: at most <c>max-inodes</c> objects and <c>max-clients-per-inode</c> sessions per
/// object. Whoever is dropped early is sent a notice for that object at once, so no client keeps trusting a cache the
/// brick would no longer tell it about.
/// </summary>
public sealed class WhatTheBrickRemembersIsBounded : IAsyncLifetime
{
    private sealed class Sink : IUpcallSink
    {
        public readonly List<UpcallNotice> Got = [];
        public Guid Mount { get; } = Guid.NewGuid();
        public void Send(in UpcallNotice notice) { lock (Got) Got.Add(notice); }
    }

    private string _temp = "";
    private Graph _g = null!;
    private UpcallTranslator Upcall => (UpcallTranslator)_g.Top;

    public async Task InitializeAsync()
    {
        _temp = Path.Combine(Path.GetTempPath(), "graft-upcall-bounds", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(_temp);
        _g = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = _temp }),
                          (UpcallTranslator.Spec, "upcall", new Dictionary<string, string> { ["max-inodes"] = "16", ["max-clients-per-inode"] = "2" }));
        Assert.True(await _g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        _g.SendParentDown();
        await _g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(10));
        await _g.DestroyAsync();
        try { Directory.Delete(_temp, recursive: true); } catch (IOException) { }
    }

    private static FopContext As(IUpcallSink? sink) { var c = FopContext.Root(); c.Upcalls = sink; c.MountId = sink?.Mount ?? Guid.Empty; return c; }

    private async Task<Gfid> CreateAsync(string name)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(_g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await _g.Top.CreateAsync(As(null), Loc.Child(_g.Inodes.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        await FopScenario.Release(_g.Top, fd);
        return gfid;
    }

    [Fact]
    public async Task Past_max_inodes_objects_are_dropped_and_their_watchers_told()
    {
        var files = new List<Gfid>();
        for (int i = 0; i < 40; i++) files.Add(await CreateAsync($"f{i}"));
        var a = new Sink();
        foreach (var (f, i) in files.Select((f, i) => (f, i)))
            Assert.True((await _g.Top.LookupAsync(As(a), Loc.Child(_g.Inodes.Root, $"f{i}"))).Ok);

        Assert.InRange(Upcall.Remembered, 1, 16);
        // 41 objects looked at (the root too) in a table of 16: at least 25 were dropped, each with a notice to A.
        lock (a.Got) Assert.True(a.Got.Count >= 25, $"{a.Got.Count} notices for dropped objects");
        lock (a.Got) Assert.All(a.Got, n => Assert.Equal(UpcallKind.Inode, n.Kind));
    }

    [Fact]
    public async Task Past_max_clients_per_inode_the_oldest_watcher_is_told_and_dropped()
    {
        var f = await CreateAsync("f");
        Sink a = new(), b = new(), c = new();
        foreach (var s in new[] { a, b, c }) Assert.True((await _g.Top.StatAsync(As(s), Loc.Nameless(f))).Ok);
        lock (a.Got) Assert.Equal([UpcallNotice.Inode(f, data: true)], a.Got); // pushed out by c

        // c changes f: b, still remembered, is told; a, no longer remembered, is not told again; c never.
        Assert.True((await _g.Top.SetattrAsync(As(c), Loc.Nameless(f), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x180 })).Ok);
        lock (a.Got) Assert.Single(a.Got);
        lock (b.Got) Assert.Equal([UpcallNotice.Inode(f, data: false)], b.Got);
        lock (c.Got) Assert.Empty(c.Got);
    }
}
