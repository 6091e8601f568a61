using Graft.Core;
using Graft.Xlators.Protocol.Wire;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Blocking lock requests parked on the brick never take the connection's request slots: a mount
/// with more of them parked than there are slots still gets its pings answered (it is not
/// disconnected by its ping-timeout) and its other calls served.
/// </summary>
public class ParkedLockWaitsNeverStopAConnection
{
    [Fact]
    public async Task A_mount_with_1500_parked_setlkws_keeps_its_connection_through_several_ping_timeouts_and_gets_every_grant()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: []);
        var holder = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var waiter = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid(), options: new() { ["ping-timeout"] = "3s" });
        var (fh, gfid) = await holder.CreateAsync("f");
        var fw = await waiter.OpenAsync(gfid);
        Assert.Equal(Errno.OK, await holder.SetLk(fh, WireMount.Range(Write, 0, 0, 1, 1)));

        const int parked = 1500;   // more than max-requests-in-service (1024)
        var waits = Enumerable.Range(0, parked)
            .Select(i => waiter.Lk(fw, LockCmd.SetLkW, WireMount.Range(Write, i, 1, 1000 + (ulong)i, 1000 + i))).ToArray();
        // A bound on setting up, not a speed asserted: 1,500 requests parse and park slowly on a loaded machine.
        await ClientGraphs.Until(() => brick.Locks!.Counts.Waiting == parked, "every request parked on the brick", 120000);
        Assert.Equal(parked, brick.Server.LockWaits);
        Assert.Equal(0, brick.Server.RequestCounts.InService);

        // An idle client pings after a third of its ping-timeout and gives up after all of it: 2.5
        // ping-timeouts of silence from the caller's side, with every wait still parked.
        await Task.Delay(TimeSpan.FromSeconds(7.5));
        Assert.DoesNotContain(GraphEvent.ChildDown, waiter.Events);
        Assert.DoesNotContain(waits, w => w.IsCompleted);
        Assert.True((await waiter.Graph.Top.StatAsync(waiter.Ctx(), Loc.Nameless(Gfid.Root))).Ok);

        Assert.Equal(Errno.OK, await holder.SetLk(fh, WireMount.Range(Unlock, 0, 0, 1, 1)));
        var results = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.All(results, r => Assert.Equal(Errno.OK, r.Error));
        Assert.Equal(parked, brick.Locks!.Counts.Held);
        await ClientGraphs.Until(() => brick.Server.LockWaits == 0, "the lock waits given back");

        await waiter.ReleaseAsync(fw);
        await holder.ReleaseAsync(fh);
        await waiter.StopAsync();
        await holder.StopAsync();
    }
}

/// <summary>
/// A session may have at most max-lock-waits-per-session blocking lock requests in service; one
/// more is answered ENOLCK at once (counted), other sessions are not affected, and a wait that
/// ends gives its place back.
/// </summary>
public class LockWaitsPerSessionAreCapped
{
    [Fact]
    public async Task The_request_past_the_cap_gets_enolck_and_a_finished_wait_makes_room()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["max-lock-waits-per-session"] = "10" }, lockOptions: []);
        var a = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var b = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fa, gfid) = await a.CreateAsync("f");
        var fb = await b.OpenAsync(gfid);
        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Write, 0, 0, 1, 1)));

        using var interrupt = new CancellationTokenSource();
        var waits = Enumerable.Range(0, 10)
            .Select(i => b.Lk(fb, LockCmd.SetLkW, WireMount.Range(Write, i, 1, 100 + (ulong)i, 100 + i), i == 9 ? interrupt.Token : default)).ToList();
        await ClientGraphs.Until(() => brick.Locks!.Counts.Waiting == 10, "ten parked");
        var refused = await b.Lk(fb, LockCmd.SetLkW, WireMount.Range(Write, 50, 1, 150, 150)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Errno.ENOLCK, refused.Error);
        Assert.Equal(1, brick.Server.LockWaitsRefused);
        Assert.Equal(10, brick.Locks!.Counts.Waiting);
        // Non-blocking requests are not lock waits.
        Assert.Equal(Errno.EAGAIN, await b.SetLk(fb, WireMount.Range(Write, 60, 1, 160, 160)));

        // The cap is per session: another client parks as usual.
        var c = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var fc = await c.OpenAsync(gfid);
        var other = c.Lk(fc, LockCmd.SetLkW, WireMount.Range(Write, 70, 1, 170, 170));
        await ClientGraphs.Until(() => brick.Locks!.Counts.Waiting == 11, "the other session's wait parked");

        // A wait that ends (interrupted) gives its place back.
        interrupt.Cancel();
        Assert.Equal(Errno.EINTR, (await waits[9].WaitAsync(TimeSpan.FromSeconds(10))).Error);
        waits[9] = b.Lk(fb, LockCmd.SetLkW, WireMount.Range(Write, 80, 1, 180, 180));
        await ClientGraphs.Until(() => brick.Locks!.Counts.Waiting == 11, "a new wait parked in the freed place");
        Assert.Equal(1, brick.Server.LockWaitsRefused);

        Assert.Equal(Errno.OK, await a.SetLk(fa, WireMount.Range(Unlock, 0, 0, 1, 1)));
        Assert.All(await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10)), r => Assert.Equal(Errno.OK, r.Error));
        Assert.Equal(Errno.OK, (await other.WaitAsync(TimeSpan.FromSeconds(10))).Error);
        await ClientGraphs.Until(() => brick.Server.LockWaits == 0, "every wait given back");

        await c.ReleaseAsync(fc);
        await b.ReleaseAsync(fb);
        await a.ReleaseAsync(fa);
        foreach (var m in new[] { a, b, c }) await m.StopAsync();
    }
}

/// <summary>
/// With every request slot taken by requests that do not finish, the connection is still read:
/// a Ping is answered, a Goodbye is heard, and requests read meanwhile wait in the backlog and
/// are served, in order, as slots come free.
/// </summary>
public class ControlFramesAreReadWhileRequestSlotsAreFull
{
    private static FopRequest StatRoot => new(FopOp.Stat) { Loc = new WireLoc(Gfid.Root, default, null) };

    private static Task<InProcessBrick> HeldBrick() => InProcessBrick.StartAsync(
        new() { ["max-requests-in-service"] = "4" },
        faultOptions: new() { ["drop"] = "stat", ["drop-count"] = "4" });

    [Fact]
    public async Task A_ping_is_answered_and_the_backlog_is_served_once_slots_come_free()
    {
        await using var brick = await HeldBrick();
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        var ids = new List<ulong>();
        for (int i = 0; i < 10; i++) ids.Add(await c.SendAsync(StatRoot));
        await ClientGraphs.Until(() => brick.Faults!.HeldCount == 4, "four stats held in service");
        await ClientGraphs.Until(() => brick.Server.RequestCounts == (4, 6), "six waiting in the backlog");

        await c.PingAsync(77);
        await c.WaitForAsync(f => f.Type == FrameType.Pong && f.Id == 77, "the pong", seconds: 5);
        Assert.Equal(0, c.Count(f => f.Type == FrameType.Reply));

        brick.Faults!.ReleaseHeld();
        foreach (var id in ids[..4]) Assert.Equal(Errno.ENOTCONN, (await c.ReplyAsync(id, FopOp.Stat)).Error);
        foreach (var id in ids[4..]) Assert.Equal(Errno.OK, (await c.ReplyAsync(id, FopOp.Stat)).Error);
        Assert.Equal((0, 0), brick.Server.RequestCounts);
    }

    [Fact]
    public async Task A_goodbye_is_heard_and_the_session_freed_though_no_slot_comes_free()
    {
        await using var brick = await HeldBrick();
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        for (int i = 0; i < 10; i++) await c.SendAsync(StatRoot);
        await ClientGraphs.Until(() => brick.Server.RequestCounts == (4, 6), "four in service, six waiting");
        await c.SendAsync(RawWireClient.Frame(FrameType.Goodbye, FrameFlags.None, FopOp.None, 0, null));
        await ClientGraphs.Until(() => brick.Server.SessionCount == 0 && brick.Server.ConnectionCount == 0, "the session freed at once");
        // The held calls were cancelled with their connection; nothing of it is left in service.
        await ClientGraphs.Until(() => brick.Faults!.HeldCount == 0 && brick.Server.RequestCounts == (0, 0), "nothing left in service");
    }
}

/// <summary>
/// A connection whose backlog holds max-request-backlog bytes is not read any further until a
/// request leaves it: the brick buffers a bounded amount for a client that sends faster than it
/// is served, and TCP pushes back. Nothing is lost: once there is room, everything is served.
/// </summary>
public class AFullBacklogStopsReadingUntilThereIsRoom
{
    [Fact]
    public async Task The_backlog_stays_within_its_bytes_and_every_request_is_answered_once_it_drains()
    {
        await using var brick = await InProcessBrick.StartAsync(
            new() { ["max-requests-in-service"] = "1", ["max-request-backlog"] = "64KB" },
            faultOptions: new() { ["drop"] = "stat", ["drop-count"] = "1" });
        await using var c = await RawWireClient.ConnectAsync(brick.Port);
        var stat = new FopRequest(FopOp.Stat) { Loc = new WireLoc(Gfid.Root, default, null) };
        var burst = new List<byte>();
        var ids = new List<ulong>();
        for (int i = 0; i < 200; i++)
        {
            var (f, id) = c.Request(stat);
            burst.AddRange(f);
            ids.Add(id);
        }
        burst.AddRange(RawWireClient.Frame(FrameType.Ping, FrameFlags.None, FopOp.None, 9, null));
        await c.SendAsync([.. burst]);   // one write: the brick has it all in its socket buffer

        // Each waiting request counts its body buffer (at least 4 KiB; a pooled call may keep a larger
        // one from an earlier request) and about 1 KiB more: at most 13 fill 64 KiB.
        await ClientGraphs.Until(() => brick.Server.RequestCounts.InService == 1 && brick.Server.RequestBacklogBytes >= 64 * 1024,
            "the backlog full");
        var full = brick.Server.RequestCounts;
        Assert.InRange(full.Backlogged, 1, 13);
        await Task.Delay(500);   // reading has stopped: nothing more is taken in, the ping behind is not read
        Assert.Equal(full, brick.Server.RequestCounts);
        Assert.Equal(0, c.Count(f => f.Type == FrameType.Pong));

        brick.Faults!.ReleaseHeld();
        Assert.Equal(Errno.ENOTCONN, (await c.ReplyAsync(ids[0], FopOp.Stat)).Error);
        foreach (var id in ids[1..]) Assert.Equal(Errno.OK, (await c.ReplyAsync(id, FopOp.Stat)).Error);
        await c.WaitForAsync(f => f.Type == FrameType.Pong && f.Id == 9, "the pong");
    }
}

/// <summary>
/// A session may have at most max-open-fds-per-session files and directories open; one more open,
/// create or opendir gets EMFILE (counted), makes nothing, and another session is not affected.
/// </summary>
public class OpenFdsPerSessionAreCapped
{
    [Fact]
    public async Task The_open_past_the_cap_is_emfile_until_one_is_released()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["max-open-fds-per-session"] = "4" });
        var a = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var b = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var open = new List<Fd>();
        Gfid first = default;
        for (int i = 0; i < 4; i++)
        {
            var (fd, g) = await a.CreateAsync($"f{i}");
            open.Add(fd);
            if (i == 0) first = g;
        }
        var top = a.Graph.Top;
        var gfid = Gfid.NewGfid();
        var extra = FopScenario.NewFd(a.Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EMFILE, (await top.CreateAsync(a.Ctx(), Loc.Child(Gfid.Root, "f4"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, extra)).Error);
        Assert.Equal(Errno.ENOENT, (await top.LookupAsync(a.Ctx(), Loc.Child(Gfid.Root, "f4"))).Error);   // nothing was made
        var again = FopScenario.NewFd(a.Graph.Inodes, new Iatt { Gfid = first, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EMFILE, await top.OpenAsync(a.Ctx(), Loc.Nameless(first), OpenFlags.O_RDONLY, again));
        var dir = FopScenario.NewFd(a.Graph.Inodes, new Iatt { Gfid = Gfid.Root, Mode = PosixMode.S_IFDIR }, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.EMFILE, await top.OpendirAsync(a.Ctx(), Loc.Nameless(Gfid.Root), dir));
        Assert.Equal(3, brick.Server.FdsRefused);

        var fromB = await b.OpenAsync(first);   // another session: its own count
        await a.ReleaseAsync(open[0]);
        await ClientGraphs.Until(() => brick.Server.TotalFds == 4, "the release seen by the brick");
        open[0] = await a.OpenAsync(first);

        foreach (var fd in open) await a.ReleaseAsync(fd);
        await b.ReleaseAsync(fromB);
        await a.StopAsync();
        await b.StopAsync();
    }
}
