using Graft.Core;

namespace Graft.Core.Tests.Graphs;

/// <summary>Each graph counts the fops in flight on it, separately from every other graph.</summary>
public class FopsInFlightArePerGraph
{
    /// <summary>Holds each LOOKUP until the test lets it go, so fops can be caught in flight.</summary>
    private sealed class HoldingLeaf : Translator
    {
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Arrived;

        public override async ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
        {
            Interlocked.Increment(ref Arrived);
            await Release.Task;
            return new Result<Iatt>(Errno.ENOENT);
        }
    }

    private static readonly XlatorSpec Holding = new("test/holding", () => new HoldingLeaf(), [], "holds lookups") { MinChildren = 0, MaxChildren = 0 };

    // What a front end does around every fop: count it on the graph it uses for as long as it runs.
    private static async Task<Result<Iatt>> Counted(Graph g, Loc loc)
    {
        g.EnterFop();
        try { return await g.Top.LookupAsync(FopContext.Root(), loc); }
        finally { g.ExitFop(); }
    }

    [Fact]
    public async Task Fops_are_counted_while_they_run_and_only_on_their_graph()
    {
        var a = Graph.Linear(1, (Holding, "leaf", null), (Graft.Xlators.Debug.Passthrough.Spec, "top", null));
        var b = Graph.Linear(2, (Holding, "leaf", null), (Graft.Xlators.Debug.Passthrough.Spec, "top", null));
        var leafA = (HoldingLeaf)a.Find("leaf")!;

        var calls = Enumerable.Range(0, 5).Select(_ => Counted(a, Loc.Of(a.Inodes.Root))).ToList();
        await WaitUntil(() => Volatile.Read(ref leafA.Arrived) == 5);

        Assert.Equal(5, a.FopsInFlight);
        Assert.Equal(0, b.FopsInFlight);

        leafA.Release.SetResult();
        var results = await Task.WhenAll(calls).WaitAsync(TestXlators.Bound);
        Assert.All(results, r => Assert.Equal(Errno.ENOENT, r.Error));
        Assert.Equal(0, a.FopsInFlight);
    }

    [Fact]
    public async Task Concurrent_enters_and_exits_balance()
    {
        var g = Graph.Linear(1, (Graft.Xlators.Debug.Passthrough.Spec, "only", null));
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 20_000; i++) { g.EnterFop(); g.ExitFop(); }
        }));
        await Task.WhenAll(workers).WaitAsync(TestXlators.Bound);
        Assert.Equal(0, g.FopsInFlight);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestXlators.Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(5);
        }
    }
}
