using System.Diagnostics;
using Graft.Client;
using Graft.Core;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// A read that debug/faults holds forever on the old graph (a lost frame) neither delays the
/// switch nor keeps the old graph: the switch completes at once, the held call fails with
/// ENOTCONN once the retirement bound is over, and the old graph is torn down by force.
/// </summary>
public class LostFrameForcesRetirement
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_dropped_frame_delays_retirement_by_the_bound_and_never_the_switch()
    {
        await using var t = await NetVolume.StartAsync(writeBehind: false, Bound, faults: "    option drop readv\n");
        await using (var w = await t.Volume.OpenAsync("/f", FileMode.Create, FileAccess.Write))
            await w.WriteAsync(new byte[4096]);
        var stuckStream = await t.Volume.OpenAsync("/f", FileMode.Open, FileAccess.Read);
        try
        {
            var oldGen = t.Volume.Session.ActiveGraph.Generation;
            var clock = Stopwatch.StartNew();
            var stuck = stuckStream.ReadAsync(new byte[4096]).AsTask();
            await NetClientWait.Until(() => t.Volume.Session.ActiveGraph.FopsInFlight > 0, "the read is held");
            Assert.False(stuck.IsCompleted);

            await t.ApplyAsync(writeBehind: false); // no faults layer: a new graph
            // The switch is done while the read is still held and its graph still there: it did not wait for them.
            // (The retirement bound runs from the switch's end, so a slow switch under load cannot fail this.)
            Assert.False(stuck.IsCompleted, "the switch waited for the held read");
            Assert.Contains(t.Volume.Session.Graphs, g => g.Generation == oldGen);

            // The new graph serves at once, the same file included.
            Assert.Equal(4096, (await t.Volume.ReadAllBytesAsync("/f")).Length);

            var e = await Assert.ThrowsAsync<GraftIOException>(() => stuck.WaitAsync(Bound + TimeSpan.FromSeconds(10)));
            clock.Stop();
            Assert.Equal(Errno.ENOTCONN, e.Errno);
            Assert.True(clock.Elapsed >= Bound * 0.9, $"the held call failed after {clock.Elapsed}, before the bound {Bound}");

            await t.WaitOneGraphAsync(TimeSpan.FromSeconds(10));
            var st = t.State;
            Assert.Equal(1, st.Counters.RetirementsForced);
            Assert.Equal(1, st.Counters.GraphsDestroyed);
            Assert.DoesNotContain(st.Graphs, g => g.Generation == oldGen);

            // The stream that held the lost call carries on, on the new graph.
            stuckStream.Position = 0;
            Assert.Equal(4096, await stuckStream.ReadAsync(new byte[8192]));
        }
        finally { await stuckStream.DisposeAsync(); }
    }
}

internal static class NetClientWait
{
    public static async Task Until(Func<bool> cond, string what, int timeoutMs = 15000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!cond())
        {
            Assert.True(Environment.TickCount64 < deadline, $"timed out waiting for: {what}");
            await Task.Delay(5);
        }
    }
}
