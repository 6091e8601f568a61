using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// RELEASE has no fop context, so the fd says whether what follows its release may run where the brick's reply arrives
/// (<see cref="Fd.ReleaseInline"/>, set by the mount session for the FUSE bridge's opens): then protocol/client finishes
/// it on the connection's receive thread, with no thread-pool hand-off per close; otherwise (a library caller) on the pool.
/// </summary>
public class AReleaseFinishesWhereItsReplyArrives
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_release_continues_on_the_receive_thread_only_when_the_fd_says_so(bool inline)
    {
        await using var brick = await InProcessBrick.StartAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var (created, gfid) = await m.CreateAsync("f");
        await m.ReleaseAsync(created);

        // A reply can arrive before the continuation is attached; then it runs inside ContinueWith on the attaching thread
        // and says nothing about where the release finished. Such a round is not counted: open and release again (bounded).
        for (int round = 0; ; round++)
        {
            Assert.True(round < 50, "every release finished before its continuation could be attached");
            var inode = m.Graph.Inodes.Link(default, null, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG });
            var fd = new Fd(inode, OpenFlags.O_RDWR) { ReleaseInline = inline };
            m.Graph.Inodes.Unref(inode);
            Assert.Equal(Errno.OK, await m.Graph.Top.OpenAsync(m.Ctx(), Loc.Nameless(gfid), OpenFlags.O_RDWR, fd));

            if (await WhereATaskFinishes.ObserveAsync(m.Graph.Top.ReleaseAsync(fd).AsTask()) is not { } where) continue;
            var (finishedOn, onPool) = where;

            if (inline) Assert.Equal("graft-recv", finishedOn); // the thread that read the reply: nothing was handed to the pool
            else Assert.True(onPool, $"finished on {finishedOn}");
            break;
        }
        await m.StopAsync();
    }
}
