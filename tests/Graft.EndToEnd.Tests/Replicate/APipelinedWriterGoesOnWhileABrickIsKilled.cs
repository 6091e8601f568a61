using Graft.EndToEnd.Tests.Mounting;
using Graft.Tests.Replicate;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// A mount of three brick processes under cluster/replicate with write-behind on top keeping several
/// writes in flight: a sequential writer of 1 MiB writes goes on with no error while one brick is killed
/// with SIGKILL (writes in flight to it cut off) and started again; every byte is there afterwards, and
/// `graft heal` makes the three bricks identical.
/// </summary>
public class APipelinedWriterGoesOnWhileABrickIsKilled
{
    private const int Mib = 1 << 20;

    private static void Fill(byte[] chunk, int index)
    {
        for (int i = 0; i < chunk.Length; i += 8) BitConverter.TryWriteBytes(chunk.AsSpan(i), (long)index * Mib + i);
    }

    [MountFact]
    public async Task No_error_reaches_the_writer_and_the_heal_makes_the_copies_identical()
    {
        await using var m = await DistributedMount.StartAsync("afr-pipe", 3, "", [], [], "cluster/replicate",
                                                             writeBehind: "writes-in-flight 4; cache-size 4MB");
        var path = m.P("big");
        int written = 0;
        using var stop = new CancellationTokenSource();
        using var allowed = new SemaphoreSlim(0); // one permit per MiB the writer may write: the file stays small
        var writer = Task.Run(() =>
        {
            var chunk = new byte[Mib];
            using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 0);
            while (true)
            {
                try { allowed.Wait(stop.Token); } catch (OperationCanceledException) { break; }
                Fill(chunk, written);
                f.Write(chunk);
                Volatile.Write(ref written, written + 1);
            }
            f.Flush(flushToDisk: true); // fsync: any write that failed below write-behind is reported here
        });

        async Task GoOn(string when, int more, int ahead = 0)
        {
            int then = Volatile.Read(ref written);
            allowed.Release(more + ahead);
            await Proc.Until(() => writer.IsCompleted || Volatile.Read(ref written) >= then + more, $"the writer to go on {when}", 90);
            Assert.False(writer.IsCompleted, $"the writer stopped {when}: {writer.Exception}\n{m.Logs()}");
        }

        await GoOn("before the kill", 8, ahead: 64); // still writing when the kill comes
        await m.KillBrickAsync(1);
        await GoOn("with brick 1 killed", 16);
        await m.RestartBrickAsync(1);
        await Proc.Until(() => m.TranslatorCounter("dht", "childrenUp") == 3, "the mount to see brick 1 again", 60);
        await GoOn("after brick 1 came back", 16);
        stop.Cancel();
        await writer.WaitAsync(TimeSpan.FromSeconds(60)); // throws what the writer saw, fsync and close included

        Assert.True(m.TranslatorCounter("wb", "writesBesideOthers") > 0, "write-behind never had two writes in flight: the test proves nothing");
        int n = Volatile.Read(ref written);
        Assert.Equal((long)n * Mib, new FileInfo(path).Length);
        var expect = new byte[Mib];
        var got = new byte[Mib];
        await using (var r = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
            for (int i = 0; i < n; i++)
            {
                await r.ReadExactlyAsync(got);
                Fill(expect, i);
                Assert.True(expect.AsSpan().SequenceEqual(got), $"MiB {i} of {n} differs");
            }

        await m.HealAndCompareBricksAsync();
    }
}
