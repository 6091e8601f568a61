using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>frame-timeout and ping-timeout against a brick that is alive but frozen (SIGSTOP): calls fail with ENOTCONN within their bound, never hang.</summary>
public class TimeoutsFire
{
    [Fact]
    public async Task Frame_timeout_fails_a_call_the_frozen_brick_never_answers()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        // ping-timeout off, so only frame-timeout can end the call.
        var g = await NetClient.ConnectAsync(brick.Port, "b", new() { ["frame-timeout"] = "1", ["ping-timeout"] = "0" });
        // Before the freeze a call may still time out on a loaded machine (the brick answers late, not never): retry.
        await NetClient.Until(async () => (await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok, "stat works before the freeze");

        await brick.FreezeAsync();
        var sw = Stopwatch.StartNew();
        // Nothing but frame-timeout can end this call (the brick never answers, ping-timeout is off): that it ends
        // with ENOTCONN, not before the bound, is the proof; the upper bound only keeps a hang from hanging the
        // suite (a wall-clock bound near 1 s failed on a loaded machine, where timer ticks run late).
        var r = await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        sw.Stop();
        Assert.Equal(Errno.ENOTCONN, r.Error);
        Assert.True(sw.ElapsedMilliseconds >= 900, $"the call failed after {sw.ElapsedMilliseconds} ms, before frame-timeout");

        brick.Signal(BrickProcess.SIGCONT);
        // The connection itself survived (only the call was bounded): the next call works.
        await NetClient.Until(async () => (await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok, "stat works after SIGCONT");
        await g.StopAsync();
        Directory.Delete(temp, true);
    }

    [Fact]
    public async Task Ping_timeout_drops_the_connection_to_a_frozen_brick_and_it_comes_back()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        // frame-timeout far away, so only the liveness probe can end the pending call.
        var g = await NetClient.ConnectAsync(brick.Port, "b", new() { ["frame-timeout"] = "60", ["ping-timeout"] = "1" });
        var c = (ProtocolClient)g.Top;
        var events = new List<GraphEvent>();
        g.TopEvent += ev => { lock (events) events.Add(ev); };

        await brick.FreezeAsync();
        var sw = Stopwatch.StartNew();
        // Only the liveness probe (1 s) or frame-timeout (60 s) can end this call: ending within 30 s tells them apart
        // with room for a loaded machine's late timer ticks.
        var r = await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        sw.Stop();
        Assert.Equal(Errno.ENOTCONN, r.Error);
        Assert.InRange(sw.ElapsedMilliseconds, 900, 30_000);
        await NetClient.Until(() => { lock (events) return events.Contains(GraphEvent.ChildDown); }, "CHILD_DOWN", 5000);

        brick.Signal(BrickProcess.SIGCONT);
        await NetClient.Until(() => { lock (events) return events.LastOrDefault() == GraphEvent.ChildUp; }, "CHILD_UP after SIGCONT");
        Assert.True((await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);
        await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
