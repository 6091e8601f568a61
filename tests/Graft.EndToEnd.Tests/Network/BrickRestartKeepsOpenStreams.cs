using Graft.Client;
using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// The same, through the library front end: a GraftFileStream on a Volume whose graph is
/// protocol/client keeps working across kill -9 and restart of the brick; what was written and
/// fsynced before, during and after is read back intact through the same stream. A write the dead
/// brick acknowledged that no fsync covered (the kill fell between a write and its fsync) is not
/// passed over in silence: the first fsync after the restart fails with EIO, once, and so does close.
/// </summary>
public class BrickRestartKeepsOpenStreams
{
    private const int Chunk = 64 << 10;

    private static byte[] ChunkData(int i)
    {
        var b = new byte[Chunk];
        new Random(1000 + i).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task The_same_open_stream_carries_on_after_kill_9_and_restart()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var brick = await BrickProcess.ServeDirAsync(dir);
        int port = brick.Port;
        var graph = NetClient.NewGraph(port, "b", new() { ["frame-timeout"] = "5", ["ping-timeout"] = "2" });
        await using var volume = await Volume.OpenAsync(graph);
        var client = (ProtocolClient)graph.Top;

        var durable = new List<int>();
        var failures = new List<Errno>();
        var s = await volume.OpenAsync("/stream", FileMode.Create, FileAccess.ReadWrite);
        Exception? close;
        try
        {
            var writer = Task.Run(async () =>
            {
                for (int i = 0; i < 300; i++)
                {
                    try
                    {
                        s.Position = (long)i * Chunk;
                        await s.WriteAsync(ChunkData(i));
                        await s.FsyncAsync();
                        lock (durable) durable.Add(i);
                    }
                    catch (GraftIOException e)
                    {
                        lock (failures) failures.Add(e.Errno);
                        await NetClient.Until(() => client.IsConnected, "client reconnected", 30000);
                    }
                }
            });
            await NetClient.Until(() => { lock (durable) return durable.Count >= 20; }, "20 durable chunks before the kill");
            await brick.KillHardAsync();
            await NetClient.Until(() => !client.IsConnected, "the client noticed");
            brick = await BrickProcess.ServeDirAsync(dir, port);
            await writer.WaitAsync(TimeSpan.FromSeconds(120));

            Assert.NotEmpty(failures);
            Assert.All(failures, e => Assert.True(e is Errno.ENOTCONN or Errno.EIO, e.Name()));
            Assert.True(failures.Count(e => e == Errno.EIO) <= 1, string.Join(", ", failures));
            Assert.Contains(durable, i => i >= 280);   // the stream kept writing after the restart

            var buf = new byte[Chunk];
            foreach (var i in durable)
            {
                s.Position = (long)i * Chunk;
                await s.ReadExactlyAsync(buf);
                Assert.True(ChunkData(i).AsSpan().SequenceEqual(buf), $"chunk {i} differs after the restart");
            }
        }
        finally { close = await Record.ExceptionAsync(async () => await s.DisposeAsync()); }
        // close reports the loss whenever an fsync did (nothing else could have been lost).
        if (failures.Contains(Errno.EIO)) Assert.Equal(Errno.EIO, Assert.IsType<GraftIOException>(close).Errno);
        else Assert.Null(close);
        Assert.Equal(0, await brick.StopAsync());
        await brick.DisposeAsync();
        Directory.Delete(temp, true);
    }
}
