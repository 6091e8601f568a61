using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A read's replies are taken on the connection's receive thread. A caller that may go on there (the FUSE bridge, whose
/// next step is copying the data into the kernel) does so for a small read, but from <c>read-hand-off</c> (512 KiB by
/// default) on it goes on on the thread pool, so the receive thread is back in the socket for the next read's replies
/// while the big copy runs. The data is the same either way.
/// </summary>
public class ABigReadGoesOnOnThePool
{
    [Theory]
    [InlineData(1 << 20, null, false)]          // a 1 MiB read: handed off
    [InlineData(512 << 10, null, false)]        // exactly the threshold: handed off
    [InlineData(64 << 10, null, true)]          // a small read stays where its reply arrived
    [InlineData(1 << 20, "0", true)]            // read-hand-off 0: never handed off
    [InlineData(128 << 10, "128KB", false)]     // a lower threshold set in the volfile
    public async Task A_read_continues_on_the_receive_thread_only_below_read_hand_off(int size, string? handOff, bool onReceiveThread)
    {
        await using var brick = await InProcessBrick.StartAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid(),
                                             options: handOff is null ? null : new() { ["read-hand-off"] = handOff });
        var (fd, _) = await m.CreateAsync("f");
        var data = new byte[size];
        new Random(size).NextBytes(data);
        Assert.Equal(size, (await m.Graph.Top.WritevAsync(m.Ctx(), fd, data, 0)).Value);

        var ctx = m.Ctx();
        ctx.ContinueInline = true;
        var buf = new byte[size];
        // A reply can arrive before the continuation is attached; then it runs inside ContinueWith on the attaching thread
        // and says nothing about where the read went on. Such a round is not counted: read again (bounded).
        for (int round = 0; ; round++)
        {
            Assert.True(round < 50, "every read finished before its continuation could be attached");
            Array.Clear(buf);
            var read = m.Graph.Top.ReadvAsync(ctx, fd, buf, 0).AsTask();
            var where = await WhereATaskFinishes.ObserveAsync(read);
            Assert.Equal(size, (await read).Value);
            Assert.Equal(data, buf);
            if (where is not { } w) continue;
            var (finishedOn, onPool) = w;

            if (onReceiveThread) Assert.Equal("graft-recv", finishedOn);
            else Assert.True(onPool && finishedOn != "graft-recv", $"finished on {finishedOn}");
            break;
        }
        await m.Graph.Top.ReleaseAsync(fd);
        await m.StopAsync();
    }
}
