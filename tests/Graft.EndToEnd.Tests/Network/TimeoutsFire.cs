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
        Assert.True((await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);

        await brick.FreezeAsync();
        var sw = Stopwatch.StartNew();
        var r = await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        sw.Stop();
        Assert.Equal(Errno.ENOTCONN, r.Error);
        Assert.InRange(sw.ElapsedMilliseconds, 900, 3000);

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
        var r = await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        sw.Stop();
        Assert.Equal(Errno.ENOTCONN, r.Error);
        Assert.InRange(sw.ElapsedMilliseconds, 900, 4000);
        await NetClient.Until(() => { lock (events) return events.Contains(GraphEvent.ChildDown); }, "CHILD_DOWN", 5000);

        brick.Signal(BrickProcess.SIGCONT);
        await NetClient.Until(() => { lock (events) return events.LastOrDefault() == GraphEvent.ChildUp; }, "CHILD_UP after SIGCONT");
        Assert.True((await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);
        await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
