using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// kill -9 of the brick while a client writes; the brick restarts on the same port; the client
/// reconnects, reopens its fd by GFID, and the same open fd carries on. Every chunk whose write
/// and fsync were acknowledged is on disk intact; calls in flight at the kill failed with
/// ENOTCONN and were not resent.
/// </summary>
public class BrickRestartKeepsOpenFiles
{
    private const int Chunk = 64 << 10;

    private static byte[] ChunkData(int i)
    {
        var b = new byte[Chunk];
        new Random(i).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task The_same_open_fd_carries_on_after_kill_9_and_restart_with_fsynced_data_intact()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var brick = await BrickProcess.ServeDirAsync(dir);
        int port = brick.Port;
        var g = await NetClient.ConnectAsync(port, "b", new() { ["frame-timeout"] = "5", ["ping-timeout"] = "2" });
        var c = (ProtocolClient)g.Top;
        var downs = 0;
        g.TopEvent += ev => { if (ev == GraphEvent.ChildDown) Interlocked.Increment(ref downs); };
        var root = FopContext.Root();

        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR | OpenFlags.O_CREAT);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);

        var durable = new List<int>();   // chunks whose write and fsync both succeeded
        var failed = new List<(int, Errno)>();
        var writer = Task.Run(async () =>
        {
            for (int i = 0; i < 400; i++)
            {
                var w = await c.WritevAsync(root, fd, ChunkData(i), (long)i * Chunk);
                var e = w.Ok ? await c.FsyncAsync(root, fd, false) : w.Error;
                if (w.Ok && w.Value == Chunk && e == Errno.OK) lock (durable) durable.Add(i);
                else
                {
                    lock (failed) failed.Add((i, e));
                    // While the brick is away, wait for the client to come back rather than spinning.
                    await NetClient.Until(() => c.IsConnected, "client reconnected", 30000);
                }
            }
        });

        await NetClient.Until(() => { lock (durable) return durable.Count >= 20; }, "20 durable chunks before the kill");
        await brick.KillHardAsync();
        await NetClient.Until(() => Volatile.Read(ref downs) > 0, "CHILD_DOWN after the kill");
        brick = await BrickProcess.ServeDirAsync(dir, port);
        await writer.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.NotEmpty(failed);                                   // the kill was felt...
        Assert.All(failed, f => Assert.Equal(Errno.ENOTCONN, f.Item2));  // ...as ENOTCONN only
        Assert.True(c.Connects >= 2, "the client reconnected");
        Assert.Contains(durable, i => i > failed.Max(f => f.Item1)); // and the same fd wrote after the restart

        var buf = new byte[Chunk];
        foreach (var i in durable)
        {
            var r = await c.ReadvAsync(root, fd, buf, (long)i * Chunk);
            Assert.True(r.Ok, r.Error.Name());
            Assert.Equal(Chunk, r.Value);
            Assert.True(ChunkData(i).AsSpan().SequenceEqual(buf), $"chunk {i} differs after the restart");
        }
        await FopScenario.Release(c, fd);
        await g.StopAsync();
        Assert.Equal(0, await brick.StopAsync());
        await brick.DisposeAsync();
        Directory.Delete(temp, true);
    }
}
