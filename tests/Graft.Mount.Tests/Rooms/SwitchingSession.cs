using Graft.Core;
using Graft.Xlators;

namespace Graft.Mount.Tests.Rooms;

/// <summary>
/// A mount session whose graphs are built from volfiles over one shared in-memory brick, so it can
/// switch between graphs that see the same files: <see cref="SwitchAsync"/> adds or removes a
/// passthrough layer, which is a new graph each time.
/// </summary>
internal sealed class SwitchingSession : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    public readonly FopContext Ctx = FopContext.Root();
    public readonly MountSession Session;
    private int _layers = 1;

    private SwitchingSession(MountSession session) => Session = session;

    public static async Task<SwitchingSession> StartAsync(TimeSpan sweepDelay, TimeSpan? retirementTimeout = null, TimeSpan? childUpTimeout = null)
    {
        var store = new MemoryBrick();
        var registry = BuiltinXlators.CreateRegistry().Register(MemoryBrick.SharedSpec(store));
        var g = GraphBuilder.Build(Volfile(1), "<test>", registry, 1);
        Assert.True(await g.StartAndWaitAsync(Bound, CancellationToken.None), "graph did not come up");
        var options = new MountOptions
        {
            Registry = registry, SweepDelay = sweepDelay, RetirementTimeout = retirementTimeout ?? TimeSpan.FromHours(1),
            ChildUpTimeout = childUpTimeout ?? new MountOptions().ChildUpTimeout,
        };
        return new SwitchingSession(new MountSession(g, options));
    }

    private static string Volfile(int layers)
    {
        var text = "volume mem\n    type test/memory\nend-volume\n";
        var below = "mem";
        for (int i = 1; i <= layers; i++)
        {
            text += $"volume p{i}\n    type debug/passthrough\n    subvolumes {below}\nend-volume\n";
            below = $"p{i}";
        }
        return text;
    }

    /// <summary>Switches to a new graph; returns the graph that was active before.</summary>
    public async Task<Graph> SwitchAsync()
    {
        var old = Session.ActiveGraph;
        _layers = _layers == 2 ? 1 : 2;
        var r = await Session.ApplyVolfileAsync(Volfile(_layers));
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        return old;
    }

    /// <summary>Switches to a new graph with a debug/faults layer on top, set with <paramref name="faultOptions"/> ("fail open", ...).</summary>
    public async Task<Graph> SwitchToFaultsAsync(params string[] faultOptions)
    {
        var old = Session.ActiveGraph;
        var text = Volfile(1) + "volume faults\n    type debug/faults\n" + string.Concat(faultOptions.Select(o => $"    option {o}\n")) + "    subvolumes p1\nend-volume\n";
        _layers = 0; // the next SwitchAsync goes to two passthrough layers: another shape
        var r = await Session.ApplyVolfileAsync(text);
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        return old;
    }

    /// <summary>Creates <paramref name="name"/> in the root and closes it: the node stays (one lookup).</summary>
    public async Task<NodeEntry> CreateClosedAsync(string name)
    {
        var c = TestSession.Ok(await Session.CreateAsync(Ctx, Session.Root, name, OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        await Session.ReleaseAsync(c.File);
        return new NodeEntry(c.Node, c.Attr);
    }

    /// <summary>The in-memory brick of <paramref name="g"/> (each graph has its own, over the shared files).</summary>
    public static MemoryBrick BrickOf(Graph g) => (MemoryBrick)g.Translators[0];

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}

