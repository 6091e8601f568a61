using System.Diagnostics;
using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// protocol/server's write lane: ext4 runs the buffered writes of one file one at a time anyway (its inode lock), so a
/// write that arrives while another write of its fd is in service queues behind it and is served after it by the same
/// thread, in arrival order, instead of spinning in the kernel on a thread of its own. Writes of another fd are served
/// beside the lane as before, and every byte lands.
/// </summary>
public class WritesOfOneFileAreServedOneAtATime
{
    private const int Chunk = 256 << 10;

    private static byte[] Pattern(int seed)
    {
        var b = new byte[Chunk];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task<Fd> CreateAsync(Graph g, Translator c, string name)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        return fd;
    }

    [Fact]
    public async Task Writes_of_one_fd_queue_behind_each_other_while_another_fd_is_written_beside_them()
    {
        // Every writev waits 150 ms in debug/faults (awaiting: it holds no thread, so only the lane can keep them apart).
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new()
        {
            ["delay"] = "writev", ["delay-duration"] = "150ms",
        });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var a = await CreateAsync(g, c, "a");
        var b = await CreateAsync(g, c, "b");

        const int Writes = 6;
        long laned0 = brick.Server.WritesLaned;
        var data = Enumerable.Range(0, Writes).Select(Pattern).ToArray();
        var clock = Stopwatch.StartNew();
        var onA = Enumerable.Range(0, Writes).Select(i => c.WritevAsync(root, a, data[i], (long)i * Chunk).AsTask()).ToArray();
        var onB = c.WritevAsync(root, b, data[0], 0).AsTask();
        var bWrote = await onB.WaitAsync(TimeSpan.FromSeconds(30));
        var bDone = clock.Elapsed;
        var aWrote = await Task.WhenAll(onA).WaitAsync(TimeSpan.FromSeconds(30));
        var aDone = clock.Elapsed;

        Assert.All(aWrote, w => Assert.Equal(Chunk, w.Value));
        Assert.Equal(Chunk, bWrote.Value);
        // One after the other: six delays in a row on fd a (they would overlap on threads of their own: ~150 ms in all).
        Assert.True(aDone >= TimeSpan.FromMilliseconds(Writes * 150 - 50), $"fd a's {Writes} writes took {aDone.TotalMilliseconds:0} ms: served side by side");
        Assert.True(brick.Server.WritesLaned - laned0 >= Writes - 2, $"only {brick.Server.WritesLaned - laned0} writes queued on the lane");
        // fd b's write was not queued behind fd a's.
        Assert.True(bDone < aDone - TimeSpan.FromMilliseconds(300), $"fd b's write ended at {bDone.TotalMilliseconds:0} ms, fd a's at {aDone.TotalMilliseconds:0} ms");

        var onDisk = await File.ReadAllBytesAsync(Path.Combine(brick.Dir, "a"));
        Assert.Equal(Writes * Chunk, onDisk.Length);
        for (int i = 0; i < Writes; i++)
            Assert.True(onDisk.AsSpan(i * Chunk, Chunk).SequenceEqual(data[i]), $"write {i} of fd a did not land intact");
        Assert.True((await File.ReadAllBytesAsync(Path.Combine(brick.Dir, "b"))).AsSpan().SequenceEqual(data[0]));
        await FopScenario.Release(c, a);
        await FopScenario.Release(c, b);
        await g.StopAsync();
    }

    [Fact]
    public async Task Overlapping_writes_of_one_fd_land_in_arrival_order()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new()
        {
            ["delay"] = "writev", ["delay-percent"] = "50", ["delay-duration"] = "30ms",
        });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var a = await CreateAsync(g, c, "a");
        // Twenty writes of the same range sent at once: the lane serves them in the order they arrived, so the last one sent wins.
        var data = Enumerable.Range(0, 20).Select(Pattern).ToArray();
        var writes = data.Select(d => c.WritevAsync(root, a, d, 0).AsTask()).ToArray();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True((await File.ReadAllBytesAsync(Path.Combine(brick.Dir, "a"))).AsSpan().SequenceEqual(data[^1]), "the last write sent is not the one on disk");
        await FopScenario.Release(c, a);
        await g.StopAsync();
    }
}
