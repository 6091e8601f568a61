using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// storage/posix's drop-behind (with writeback-chunk): when the writeback of an fd's next chunk is started, on the thread
/// pool, the chunk started before it is waited for until it is on disk and its pages are dropped from the page cache.
/// So a sequential writer keeps a chunk or two in the cache, no write waits for any of it, the data is intact (read back
/// from the disk), scattered writes drop nothing, and a file truncated and closed meanwhile touches no other file.
/// </summary>
public sealed class ASequentialWritersChunksLeaveThePageCache
{
    private const int MiB = 1 << 20;

    private static byte[] Data(int mebibytes, int seed)
    {
        var d = new byte[mebibytes * MiB];
        new Random(seed).NextBytes(d);
        return d;
    }

    private static async Task WriteAsync(PosixBrick b, Fd fd, byte[] data, int fromMiB, int toMiB, long spacing = MiB)
    {
        for (int i = fromMiB; i < toMiB; i++)
        {
            var r = await b.Xl.WritevAsync(PosixBrick.Root, fd, data.AsMemory(i * MiB, MiB), i * spacing);
            Assert.True(r.Ok && r.Value == MiB, $"write {i}: {(r.Ok ? r.Value : r.Error)}");
        }
    }

    private static async Task<bool> IntactAsync(PosixBrick b, Fd fd, byte[] expected)
    {
        var got = new byte[expected.Length];
        for (int i = 0; i < expected.Length / MiB; i++)
        {
            var r = await b.Xl.ReadvAsync(PosixBrick.Root, fd, got.AsMemory(i * MiB, MiB), (long)i * MiB);
            Assert.True(r.Ok && r.Value == MiB, $"read {i}: {(r.Ok ? r.Value : r.Error)}");
        }
        return got.AsSpan().SequenceEqual(expected);
    }

    private static PosixFd Os(PosixBrick b, Fd fd) => Assert.IsType<PosixFd>(fd.GetCtx(b.Xl));

    /// <summary>Waits (bounded) until the fd's writeback starts and drops on the pool are over.</summary>
    private static Task IdleAsync(PosixFd pf) => Protocol.ClientGraphs.Until(() => !pf.WritebackBusy, "the fd's writeback starts and drops to end");

    [PosixFact]
    public async Task Chunks_on_disk_leave_the_page_cache_and_the_data_is_intact()
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "on");
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var data = Data(32, 1);
        await WriteAsync(b, fd, data, 0, 32);
        var pf = Os(b, fd);
        await IdleAsync(pf);

        // Every start but the last dropped the range started before it; for a sequential writer those ranges run from 0.
        long dropped = b.Xl.DroppedBytes;
        Assert.True(b.Xl.DroppedRanges >= 1, "32 MiB in chunks of 4 MiB make at least two starts, so at least one drop");
        // The last range started waits for the next start; past it, less than a chunk written since (never started).
        var (pendingFrom, pendingTo) = pf.PendingDrop;
        Assert.Equal(dropped, pendingFrom);
        Assert.InRange(pendingTo, pendingFrom + 4L * MiB, 32L * MiB);
        var resident = PageCache.Resident(Path.Combine(b.Dir, "f"), 32L * MiB);
        Assert.Equal(0, PageCache.Count(resident, 0, dropped));
        Assert.True(PageCache.Count(resident, dropped, 32L * MiB) > 0, "the last chunk, not yet dropped, is still cached (mincore sees pages)");

        Assert.True(await IntactAsync(b, fd, data));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task No_write_waits_for_a_drop()
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "on");
        using var hold = new ManualResetEventSlim(false);
        using var held = new ManualResetEventSlim(false);
        b.Xl.DropHold = hold;
        b.Xl.DropHeld = held;
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var data = Data(32, 2);
        try
        {
            // Two chunks make a start that has a range to drop: it reaches the hold (a disk that does not finish).
            await WriteAsync(b, fd, data, 0, 12);
            await Protocol.ClientGraphs.Until(() => held.IsSet, "drop-behind to reach its hold");
            // The rest is written while that drop is held: were any write waiting for it, none of this could finish
            // before the hold's 30 s, and a drop would have been counted.
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            await WriteAsync(b, fd, data, 12, 32);
            var writing = System.Diagnostics.Stopwatch.GetElapsedTime(t0);
            Assert.Equal(0, b.Xl.DroppedRanges);
            Assert.True(writing < TimeSpan.FromSeconds(20), $"20 MiB of writes took {writing}");
        }
        finally { hold.Set(); }
        var pf = Os(b, fd);
        await IdleAsync(pf);
        Assert.True(b.Xl.DroppedRanges >= 1);
        Assert.True(await IntactAsync(b, fd, data));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Past_the_bound_on_waits_a_drop_does_not_wait()
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "on");
        using var hold = new ManualResetEventSlim(false);
        using var held = new ManualResetEventSlim(false);
        b.Xl.MaxDropWaits = 1;
        b.Xl.DropHold = hold;
        b.Xl.DropHeld = held;
        var (_, a) = await b.CreateOk(Gfid.Root, "a");
        var (_, c) = await b.CreateOk(Gfid.Root, "c");
        var other = Data(12, 8);
        try
        {
            await WriteAsync(b, a, Data(12, 7), 0, 12);
            await Protocol.ClientGraphs.Until(() => held.IsSet, "a's drop to take the one wait and reach its hold");
            // The one wait is taken (a disk that does not finish): c's drops go on without waiting, a pool thread each
            // for no longer than the calls take.
            await WriteAsync(b, c, other, 0, 12);
            await IdleAsync(Os(b, c));
            Assert.True(b.Xl.DroppedUnwaited >= 1, "c's drop ran past the bound, unwaited");
            Assert.Equal(b.Xl.DroppedUnwaited, b.Xl.DroppedRanges);   // a's is still held
        }
        finally { hold.Set(); }
        await IdleAsync(Os(b, a));
        Assert.True(b.Xl.DroppedRanges > b.Xl.DroppedUnwaited, "a's drop, waited, ran once let go");
        Assert.True(await IntactAsync(b, c, other));
        await b.Release(a);
        await b.Release(c);
    }

    [PosixFact]
    public async Task With_drop_behind_off_the_written_pages_stay_cached()
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "off");
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var data = Data(16, 3);
        await WriteAsync(b, fd, data, 0, 16);
        await IdleAsync(Os(b, fd));
        Assert.True(b.Xl.WritebacksStarted >= 1);
        Assert.Equal(0, b.Xl.DroppedRanges);
        var resident = PageCache.Resident(Path.Combine(b.Dir, "f"), 16L * MiB);
        Assert.True(PageCache.Count(resident, 0, 16L * MiB) > resident.Length / 2, "the written pages are still in the page cache");
        Assert.True(await IntactAsync(b, fd, data));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Scattered_writes_drop_nothing()
    {
        // 1 MiB every 8 MiB: each chunk's 4 MiB of writes span 25 MiB or more, more than twice what was written in
        // them, so dropping the span would evict the cached pages between them.
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "on");
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var data = Data(16, 4);
        await WriteAsync(b, fd, data, 0, 16, spacing: 8L * MiB);
        var pf = Os(b, fd);
        await IdleAsync(pf);
        Assert.True(b.Xl.WritebacksStarted >= 2);
        Assert.Equal(0, b.Xl.DroppedRanges);
        Assert.Equal((0L, 0L), pf.PendingDrop);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task A_file_truncated_and_closed_while_its_drop_is_held_touches_no_other_file()
    {
        await using var b = await PosixBrick.StartAsync(writebackChunk: "4MB", dropBehind: "on");
        using var hold = new ManualResetEventSlim(false);
        using var held = new ManualResetEventSlim(false);
        b.Xl.DropHold = hold;
        b.Xl.DropHeld = held;
        var (_, f) = await b.CreateOk(Gfid.Root, "f");
        var pf = Os(b, f);
        try
        {
            await WriteAsync(b, f, Data(12, 5), 0, 12);
            await Protocol.ClientGraphs.Until(() => held.IsSet, "drop-behind to reach its hold");
            var r = await b.Xl.FsetattrAsync(PosixBrick.Root, f, new SetAttr { Valid = SetAttrValid.Size, Size = 0 });
            Assert.True(r.Ok, $"truncate: {r.Error}");
            await b.Release(f);

            // Another file, opened now (its OS fd may take the number f's had), written and made clean: cached pages a
            // wrong drop would evict.
            var (_, g) = await b.CreateOk(Gfid.Root, "g");
            var other = Data(2, 6);
            await WriteAsync(b, g, other, 0, 2);
            Assert.Equal(Errno.OK, await b.Xl.FsyncAsync(PosixBrick.Root, g, dataOnly: true));
            hold.Set();
            await IdleAsync(pf);
            Assert.True(b.Xl.DroppedRanges >= 1, "the held drop ran, on the truncated file");

            var resident = PageCache.Resident(Path.Combine(b.Dir, "g"), 2L * MiB);
            Assert.Equal(resident.Length, PageCache.Count(resident, 0, 2L * MiB));
            Assert.True(await IntactAsync(b, g, other));
            Assert.Equal(0, new FileInfo(Path.Combine(b.Dir, "f")).Length);
            await b.Release(g);
        }
        finally { hold.Set(); }
    }
}
