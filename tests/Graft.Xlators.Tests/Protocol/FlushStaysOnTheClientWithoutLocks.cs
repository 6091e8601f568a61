using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A FLUSH's only effect on the brick is dropping the flushing owner's POSIX locks on the file, so
/// protocol/client answers it itself for a file no client of this process ever sent a lock request
/// for (a close then costs no round trip), and sends it once any client of the process — an older
/// graph's included — may hold a lock there. The brick here fails every FLUSH that reaches it.
/// </summary>
public class FlushStaysOnTheClientWithoutLocks
{
    private static Task<InProcessBrick> BrickFailingEveryFlushAsync() =>
        InProcessBrick.StartAsync(faultOptions: new() { ["fail"] = "flush", ["fail-errno"] = "EIO" });

    [Fact]
    public async Task The_close_of_a_file_never_locked_sends_no_flush()
    {
        await using var brick = await BrickFailingEveryFlushAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fd, _) = await m.CreateAsync("f");
        Assert.Equal(4, (await m.Graph.Top.WritevAsync(m.Ctx(7), fd, new byte[4], 0)).Value);

        Assert.Equal(Errno.OK, await m.FlushAsync(fd, 7));
        Assert.Equal(0, brick.Faults!.Injected);

        await m.ReleaseAsync(fd);
        await m.StopAsync();
    }

    [Fact]
    public async Task After_a_lock_request_on_the_file_its_flush_reaches_the_brick()
    {
        await using var brick = await BrickFailingEveryFlushAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (fd, _) = await m.CreateAsync("f");
        await m.Lk(fd, LockCmd.SetLk, WireMount.Range(Write, 0, 1, 7, 70));   // its outcome does not matter here

        Assert.Equal(Errno.EIO, await m.FlushAsync(fd, 7));
        Assert.Equal(1, brick.Faults!.Injected);

        await m.ReleaseAsync(fd);
        await m.StopAsync();
    }

    [Fact]
    public async Task A_lock_sent_through_an_older_graph_makes_the_newer_graphs_flush_reach_the_brick()
    {
        await using var brick = await BrickFailingEveryFlushAsync();
        var mount = Guid.NewGuid();
        var old = await WireMount.ConnectAsync(brick.Port, "brick", mount, generation: 1);
        var young = await WireMount.ConnectAsync(brick.Port, "brick", mount, generation: 2);
        var (oldFd, gfid) = await old.CreateAsync("f");
        var youngFd = await young.OpenAsync(gfid);
        Assert.Equal(Errno.OK, await young.FlushAsync(youngFd, 7));

        await old.Lk(oldFd, LockCmd.SetLk, WireMount.Range(Write, 0, 1, 7, 70));
        Assert.Equal(Errno.EIO, await young.FlushAsync(youngFd, 7));

        await old.ReleaseAsync(oldFd);
        await young.ReleaseAsync(youngFd);
        await old.StopAsync();
        await young.StopAsync();
    }
}
