using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// The brick receives a big write's frame whole into one reference-counted receive buffer and writes the data from
/// there, not from a copy (FrameConnection keepBigBodies, ServerCall.TakeBody). The buffer must outlive the pipe's
/// use of it for as long as the write is in service, and nothing received behind it may land on it: every byte of
/// every write arrives intact while a write is held by a delaying fault and others, big and small, keep arriving on
/// the same connection. With write-splice (the default) the data goes through a pipe instead, under the same load.
/// </summary>
public class BigWritesAreWrittenFromWhereTheyArrived
{
    private const int MiB = 1 << 20;

    private static byte[] Pattern(int seed, int length)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [InlineData("0")]    // write-splice off: kept in receive buffers
    [InlineData(null)]   // the default: spliced through pipes
    public async Task Writes_in_flight_behind_a_delayed_one_land_intact_from_kept_buffers(string? writeSplice)
    {
        // The first writev waits 500 ms in debug/faults (awaiting, so the pool serves the rest meanwhile).
        await using var brick = await InProcessBrick.StartAsync(serverOptions: Splice(writeSplice), faultOptions: new()
        {
            ["delay"] = "writev", ["delay-count"] = "1", ["delay-duration"] = "500ms",
        });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);

        const int Writes = 12;
        long kept0 = Taken(brick, writeSplice);
        var data = Enumerable.Range(0, Writes).Select(i => Pattern(i, MiB)).ToArray();
        var writes = Enumerable.Range(0, Writes).Select(i => c.WritevAsync(root, fd, data[i], (long)i * MiB).AsTask()).ToArray();
        // The delayed write is still in service while the others are answered.
        await Task.WhenAll(writes.Skip(1)).WaitAsync(TimeSpan.FromSeconds(30));
        var first = await writes[0].WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(writes, w => Assert.Equal(MiB, w.Result.Value));
        Assert.Equal(MiB, first.Value);

        // A receive that ends inside a frame's 4-byte length field leaves that frame in two buffers, and it is copied as
        // before; on loopback with whole frames sent at once that is rare, so nearly all are kept.
        long kept = Taken(brick, writeSplice) - kept0;
        Assert.True(kept >= Writes - 2, $"only {kept} of {Writes} big bodies were written from their receive buffer");

        var onDisk = await File.ReadAllBytesAsync(Path.Combine(brick.Dir, "f"));
        Assert.Equal((long)Writes * MiB, onDisk.Length);
        for (int i = 0; i < Writes; i++)
            Assert.True(onDisk.AsSpan(i * MiB, MiB).SequenceEqual(data[i]), $"write {i} did not land intact");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>Server options with write-splice set, or none (its default).</summary>
    private static Dictionary<string, string>? Splice(string? writeSplice) =>
        writeSplice is null ? null : new() { ["write-splice"] = writeSplice };

    /// <summary>Big writes served without a copy into the brick's memory: kept in their receive buffer, or spliced.</summary>
    private static long Taken(InProcessBrick brick, string? writeSplice) =>
        writeSplice == "0" ? brick.Server.BodiesKept : brick.Server.WritesSpliced;

    [Theory]
    [InlineData("0")]
    [InlineData(null)]
    public async Task Big_and_small_requests_mixed_on_one_connection_land_intact(string? writeSplice)
    {
        await using var brick = await InProcessBrick.StartAsync(serverOptions: Splice(writeSplice), faultOptions: new()
        {
            ["delay"] = "writev", ["delay-percent"] = "20", ["delay-duration"] = "20ms",
        });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);

        // Four jobs, each in its own 4 MiB region: big writes of odd sizes (so frames start anywhere in a receive),
        // a small write and an fstat between them; the last big write of each job ends its region's expected content.
        const int Jobs = 4, Rounds = 16, Region = 4 * MiB;
        var expected = new byte[Jobs * Region];
        var jobs = Enumerable.Range(0, Jobs).Select(j => Task.Run(async () =>
        {
            var rng = new Random(100 + j);
            for (int r = 0; r < Rounds; r++)
            {
                int size = 200_000 + rng.Next(MiB - 200_000);
                int at = rng.Next(Region - size);
                var big = Pattern(j * 1000 + r, size);
                var small = Pattern(j * 1000 + r + 500, 100 + rng.Next(3000));
                int smallAt = rng.Next(Region - small.Length);
                var w = await c.WritevAsync(root, fd, big, (long)j * Region + at);
                Assert.Equal(size, w.Value);
                big.CopyTo(expected, j * Region + at);
                w = await c.WritevAsync(root, fd, small, (long)j * Region + smallAt);
                Assert.Equal(small.Length, w.Value);
                small.CopyTo(expected, j * Region + smallAt);
                Assert.True((await c.FstatAsync(root, fd)).Ok);
            }
        })).ToArray();
        await Task.WhenAll(jobs).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(Taken(brick, writeSplice) > 0, "no big body was kept in its receive buffer or spliced");

        var onDisk = await File.ReadAllBytesAsync(Path.Combine(brick.Dir, "f"));
        Assert.True(onDisk.Length <= expected.Length);
        var want = expected.AsSpan(0, onDisk.Length);
        int firstBad = want.CommonPrefixLength(onDisk);
        Assert.True(firstBad == onDisk.Length, $"byte {firstBad} differs");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }
}
