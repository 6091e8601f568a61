using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// storage/posix's writeback-chunk: once an fd has written that many bytes, the brick asks the kernel to start writing
/// them to disk (sync_file_range, on the thread pool, one start at a time per fd: chunks written while one runs join the
/// next), so a big write's fsync finds little left; smaller files and a chunk of 0 are left to the kernel's flusher.
/// The data is what was written either way.
/// </summary>
public sealed class BigWritesStartTheirWriteback
{
    private const int MiB = 1 << 20;

    /// <param name="starts">whether a writeback start is due (a chunk was reached): then the test waits for the first one.</param>
    private static async Task<(long Started, bool Intact)> WriteAsync(string? chunk, int mebibytes, bool starts, bool backwards = false)
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: chunk);
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var expected = new byte[mebibytes * MiB];
        new Random(mebibytes).NextBytes(expected);
        for (int i = 0; i < mebibytes; i++)
        {
            int at = backwards ? mebibytes - 1 - i : i;
            var r = await b.Xl.WritevAsync(PosixBrick.Root, fd, expected.AsMemory(at * MiB, MiB), (long)at * MiB);
            Assert.True(r.Ok && r.Value == MiB, $"write {at}: {(r.Ok ? r.Value : r.Error)}");
        }
        Assert.Equal(Errno.OK, await b.Xl.FsyncAsync(PosixBrick.Root, fd, dataOnly: false));
        var got = new byte[expected.Length];
        for (int i = 0; i < mebibytes; i++)
        {
            var r = await b.Xl.ReadvAsync(PosixBrick.Root, fd, got.AsMemory(i * MiB, MiB), (long)i * MiB);
            Assert.True(r.Ok && r.Value == MiB, $"read {i}: {(r.Ok ? r.Value : r.Error)}");
        }
        bool intact = got.AsSpan().SequenceEqual(expected);
        await b.Release(fd);
        // The starts run on the thread pool: wait (bounded) for the first one when one is due, then until the count stops
        // moving. None is queued at all when no chunk was reached, so 0 is then final.
        if (starts) await Protocol.ClientGraphs.Until(() => b.Xl.WritebacksStarted >= 1, "the first writeback start to run on the pool");
        long started = -1;
        for (int i = 0; i < 100 && started != b.Xl.WritebacksStarted; i++)
        {
            started = b.Xl.WritebacksStarted;
            await Task.Delay(50);
        }
        return (b.Xl.WritebacksStarted, intact);
    }

    [Fact]
    public async Task Each_chunk_written_starts_its_writeback_and_the_data_is_intact()
    {
        var (started, intact) = await WriteAsync("4MB", 16, starts: true);
        Assert.InRange(started, 1, 4);   // 4 chunks; those written while a start ran are started together
        Assert.True(intact);
    }

    [Fact]
    public async Task The_default_chunk_is_4MB()
    {
        var (started, intact) = await WriteAsync(null, 9, starts: true);
        Assert.InRange(started, 1, 2);
        Assert.True(intact);
    }

    [Fact]
    public async Task Writes_out_of_order_are_counted_by_their_bytes_and_covered_by_their_range()
    {
        var (started, intact) = await WriteAsync("4MB", 8, starts: true, backwards: true);
        Assert.InRange(started, 1, 2);
        Assert.True(intact);
    }

    [Fact]
    public async Task A_file_smaller_than_a_chunk_is_left_to_the_kernel()
    {
        var (started, intact) = await WriteAsync("4MB", 3, starts: false);
        Assert.Equal(0, started);
        Assert.True(intact);
    }

    [Fact]
    public async Task A_chunk_of_0_turns_it_off()
    {
        var (started, intact) = await WriteAsync("0", 16, starts: false);
        Assert.Equal(0, started);
        Assert.True(intact);
    }
}
