using Graft.Core;
using Graft.Xlators;

namespace Graft.Mount.Tests.Rooms;

/// <summary>
/// A layer that queues writes as write-behind does (acknowledged at once, passed down later) but,
/// unlike write-behind, answers every other fop at once — stat included — without writing its queue
/// first. Only the settle contract makes it pass its queue down.
/// </summary>
internal sealed class QueueingLayer : Translator
{
    public static readonly XlatorSpec Spec = new("test/queueing", () => new QueueingLayer(), [], "queues writes until settled")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private readonly List<(Fd Fd, FopContext Ctx, byte[] Data, long Offset)> _queue = [];
    private long _held;

    public override long BytesHeld => Interlocked.Read(ref _held);

    public override ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        lock (_queue) _queue.Add((fd, ctx, data.ToArray(), offset));
        Interlocked.Add(ref _held, data.Length);
        return new(data.Length);
    }

    public override async ValueTask SettleAsync(Inode inode)
    {
        List<(Fd Fd, FopContext Ctx, byte[] Data, long Offset)> mine;
        lock (_queue)
        {
            mine = _queue.Where(w => ReferenceEquals(w.Fd.Inode, inode)).ToList();
            _queue.RemoveAll(w => ReferenceEquals(w.Fd.Inode, inode));
        }
        foreach (var w in mine)
        {
            await FirstChild!.WritevAsync(w.Ctx, w.Fd, w.Data, w.Offset);
            Interlocked.Add(ref _held, -w.Data.Length);
        }
        await base.SettleAsync(inode);
    }
}

/// <summary>
/// Before a newer graph observes a file, the session settles the older graphs through the settle
/// contract: a layer holding acknowledged writes gives them up even though it answers stat at once
/// (so nothing depends on how write-behind happens to answer a stat).
/// </summary>
public class SettlingUsesTheContract
{
    private const string Old = "volume mem\n    type test/memory\nend-volume\nvolume q\n    type test/queueing\n    subvolumes mem\nend-volume\n";
    private const string New = "volume mem\n    type test/memory\nend-volume\nvolume p\n    type debug/passthrough\n    subvolumes mem\nend-volume\n";

    private static async Task<(MountSession Session, QueueingLayer Layer, MountFile File, MountNode Node)> WrittenThenSwitchedAsync(FopContext ctx)
    {
        var store = new MemoryBrick();
        var registry = BuiltinXlators.CreateRegistry().Register(MemoryBrick.SharedSpec(store)).Register(QueueingLayer.Spec);
        var g = GraphBuilder.Build(Old, "<test>", registry, 1);
        Assert.True(await g.StartAndWaitAsync(SwitchingSession.Bound, CancellationToken.None), "graph did not come up");
        var s = new MountSession(g, new MountOptions { Registry = registry, SweepDelay = TimeSpan.FromHours(1), RetirementTimeout = TimeSpan.FromHours(1) });
        var c = TestSession.Ok(await s.CreateAsync(ctx, s.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        Assert.Equal(5, TestSession.Ok(await s.WriteAsync(ctx, c.File, "hello"u8.ToArray(), 0)));
        var layer = (QueueingLayer)g.Top;
        Assert.Equal(5, layer.BytesHeld);
        // The stat this layer answers at once sees nothing yet: the bytes are only in its queue.
        Assert.Equal(0, TestSession.Ok(await g.Top.StatAsync(ctx, Loc.Of(c.Node.Inode))).Size);
        Assert.Equal(SwitchOutcome.Switched, (await s.ApplyVolfileAsync(New)).Outcome);
        return (s, layer, c.File, c.Node);
    }

    [Fact]
    public async Task A_lookup_on_the_new_graph_sees_the_bytes_the_old_one_held()
    {
        var ctx = FopContext.Root();
        var (s, layer, _, _) = await WrittenThenSwitchedAsync(ctx);
        await using var _s = s;
        var e = TestSession.Ok(await s.LookupAsync(ctx, s.Root, "f"));
        Assert.Equal(5, e.Attr.Size);
        Assert.Equal(0, layer.BytesHeld);
    }

    [Fact]
    public async Task A_getattr_of_the_node_on_the_new_graph_sees_them()
    {
        var ctx = FopContext.Root();
        var (s, layer, _, node) = await WrittenThenSwitchedAsync(ctx);
        await using var _s = s;
        Assert.Equal(5, TestSession.Ok(await s.GetattrAsync(ctx, node)).Size); // the node's miss settles first
        Assert.Equal(0, layer.BytesHeld);
    }
}
