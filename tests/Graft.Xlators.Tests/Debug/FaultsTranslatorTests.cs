using Graft.Core;
using Graft.Xlators.Debug.Faults;

namespace Graft.Xlators.Tests.Debug;

/// <summary>A leaf that answers stat with a fixed iatt and counts the calls that reach it.</summary>
internal sealed class CountingLeaf : Translator
{
    public static readonly XlatorSpec Spec = new("test/leaf", () => new CountingLeaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
    public int Stats;
    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
    {
        Interlocked.Increment(ref Stats);
        return new(new Iatt { Gfid = loc.Gfid, Mode = PosixMode.S_IFREG | 0x1A4 });
    }
}

public class FaultsTranslatorTests
{
    private static (Graph Graph, FaultsTranslator Faults, CountingLeaf Leaf) Build(Dictionary<string, string> options)
    {
        var g = Graph.Linear(1, (CountingLeaf.Spec, "leaf", null), (FaultsTranslator.Spec, "faults", options));
        g.InitAsync(CancellationToken.None).GetAwaiter().GetResult();
        return (g, (FaultsTranslator)g.Top, (CountingLeaf)g.Translators[0]);
    }

    private static readonly FopContext Ctx = FopContext.Root();

    [Fact]
    public async Task Passes_everything_through_when_nothing_is_configured()
    {
        var (_, faults, leaf) = Build(new());
        var r = await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root));
        Assert.True(r.Ok);
        Assert.Equal(1, leaf.Stats);
        Assert.Equal(0, faults.Injected);
    }

    [Fact]
    public async Task Fails_the_named_fop_with_the_chosen_errno_for_count_calls_then_passes()
    {
        var (_, faults, leaf) = Build(new() { ["fail"] = "stat", ["fail-errno"] = "ENOTCONN", ["fail-count"] = "2" });
        Assert.Equal(Errno.ENOTCONN, (await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Error);
        Assert.Equal(Errno.ENOTCONN, (await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Error);
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok);
        Assert.Equal(1, leaf.Stats);
        Assert.Equal(2, faults.Injected);
    }

    [Fact]
    public async Task Fails_only_the_fops_it_names()
    {
        var (_, faults, leaf) = Build(new() { ["fail"] = "readv, writev", ["fail-errno"] = "5" });
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok);
        Assert.Equal(1, leaf.Stats);
    }

    [Fact]
    public async Task Delays_a_call_by_the_configured_duration()
    {
        var (_, faults, leaf) = Build(new() { ["delay"] = "stat", ["delay-duration"] = "150ms" });
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok);
        Assert.True(sw.ElapsedMilliseconds >= 140, $"took {sw.ElapsedMilliseconds} ms");
        Assert.Equal(1, leaf.Stats);
    }

    [Fact]
    public async Task A_dropped_call_never_reaches_the_child_and_is_held_until_teardown()
    {
        var (graph, faults, leaf) = Build(new() { ["drop"] = "stat", ["drop-count"] = "1" });
        var held = faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root)).AsTask();
        await WaitUntil(() => faults.HeldCount == 1);
        Assert.False(held.IsCompleted);
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok); // count 1: the next passes
        await graph.DestroyAsync();
        var r = await held.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(Errno.ENOTCONN, r.Error);
        Assert.Equal(1, leaf.Stats);
    }

    [Fact]
    public async Task A_dropped_call_whose_caller_cancels_answers_EINTR()
    {
        var (_, faults, _) = Build(new() { ["drop"] = "*" });
        using var cts = new CancellationTokenSource();
        var ctx = new FopContext { Cancellation = cts.Token };
        var held = faults.StatAsync(ctx, Loc.Nameless(Gfid.Root)).AsTask();
        await WaitUntil(() => faults.HeldCount == 1);
        cts.Cancel();
        Assert.Equal(Errno.EINTR, (await held.WaitAsync(TimeSpan.FromSeconds(5))).Error);
        Assert.Equal(0, faults.HeldCount);
    }

    [Fact]
    public async Task Reconfigure_arms_and_disarms_faults_on_a_live_graph()
    {
        var (_, faults, _) = Build(new());
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok);
        faults.Reconfigure(new OptionValues(FaultsTranslator.Spec.Options, new Dictionary<string, string> { ["fail"] = "stat" }));
        Assert.Equal(Errno.EIO, (await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Error);
        faults.Reconfigure(new OptionValues(FaultsTranslator.Spec.Options, new Dictionary<string, string>()));
        Assert.True((await faults.StatAsync(Ctx, Loc.Nameless(Gfid.Root))).Ok);
    }

    [Fact]
    public void An_unknown_fop_name_is_rejected_at_init()
    {
        var e = Assert.Throws<ArgumentException>(() => Build(new() { ["fail"] = "stat, frobnicate" }));
        Assert.Contains("frobnicate", e.Message);
    }

    private static async Task WaitUntil(Func<bool> cond)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!cond())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met within 5 s");
            await Task.Delay(5);
        }
    }
}
