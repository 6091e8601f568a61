using Graft.Core;
using Graft.Xlators.Performance.WriteBehind;

namespace Graft.Xlators.Tests.Performance;

/// <summary>A leaf keeping file contents in memory, whose writes can be held at a gate or made to fail.</summary>
internal sealed class MemoryLeaf : Translator
{
    public static readonly XlatorSpec Spec = new("test/memory", () => new MemoryLeaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
    private readonly Dictionary<Gfid, List<byte>> _files = new();
    public readonly List<(long Offset, int Length)> Writes = [];
    public TaskCompletionSource Gate = Open();
    public Errno FailNextWrite;
    public int Arrived; // writes that reached this leaf (counted before the gate)
    public bool Drained;
    /// <summary>When set, each write waits at a gate of its own, added to <see cref="Held"/> in arrival order, until the test opens it.</summary>
    public bool HoldEach;
    public readonly List<(long Offset, TaskCompletionSource Gate)> Held = [];
    /// <summary>The managed thread the latest write arrived on, and the one it was answered on.</summary>
    public int ArrivedOn, AnsweredOn;

    public static TaskCompletionSource Open() { var t = new TaskCompletionSource(); t.SetResult(); return t; }

    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        Volatile.Write(ref ArrivedOn, Environment.CurrentManagedThreadId);
        Interlocked.Increment(ref Arrived);
        if (HoldEach)
        {
            var own = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (Held) Held.Add((offset, own));
            await own.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        await Gate.Task.WaitAsync(TimeSpan.FromSeconds(10));
        lock (_files)
        {
            if (FailNextWrite != Errno.OK) { var e = FailNextWrite; FailNextWrite = Errno.OK; return e; }
            var f = File(fd.Inode.Gfid);
            if ((fd.Flags & OpenFlags.O_APPEND) != 0) offset = f.Count;
            while (f.Count < offset + data.Length) f.Add(0);
            for (int i = 0; i < data.Length; i++) f[(int)offset + i] = data.Span[i];
            Writes.Add((offset, data.Length));
            Volatile.Write(ref AnsweredOn, Environment.CurrentManagedThreadId);
            return data.Length;
        }
    }

    public override ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        lock (_files)
        {
            var f = File(fd.Inode.Gfid);
            int n = (int)Math.Max(0, Math.Min(buffer.Length, f.Count - offset));
            for (int i = 0; i < n; i++) buffer.Span[i] = f[(int)offset + i];
            return new(n);
        }
    }

    public override ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
    {
        lock (_files) return new(new Iatt { Gfid = fd.Inode.Gfid, Mode = PosixMode.S_IFREG | 0x1A4, Size = File(fd.Inode.Gfid).Count });
    }

    /// <summary>Bytes of the file the child had when each lock request reached it.</summary>
    public readonly List<(LockType Type, int SizeSeen)> Locks = [];

    public override ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        lock (_files) Locks.Add((lk.Type, File(fd.Inode.Gfid).Count));
        return new(lk);
    }

    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly) => new(Errno.OK);
    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) => new(Errno.OK);

    protected override ValueTask DrainAsync() { Drained = true; return ValueTask.CompletedTask; }

    private List<byte> File(Gfid g) => _files.TryGetValue(g, out var f) ? f : _files[g] = [];
    public byte[] Content(Gfid g) { lock (_files) return [.. File(g)]; }
}

public class WriteBehindTests
{
    private static readonly FopContext Ctx = FopContext.Root();

    private static async Task<(Graph, WriteBehindTranslator, MemoryLeaf)> Build(Dictionary<string, string>? options = null)
    {
        var g = Graph.Linear(1, (MemoryLeaf.Spec, "mem", null), (WriteBehindTranslator.Spec, "wb", options));
        await g.InitAsync(CancellationToken.None);
        return (g, (WriteBehindTranslator)g.Top, (MemoryLeaf)g.Translators[0]);
    }

    internal static Fd NewFd(Graph g, int flags = OpenFlags.O_RDWR)
    {
        var inode = g.Inodes.Link(Gfid.Root, "f" + Guid.NewGuid().ToString("N"), new Iatt { Gfid = Gfid.NewGfid(), Mode = PosixMode.S_IFREG });
        var fd = new Fd(inode, flags);
        g.Inodes.Unref(inode);
        return fd;
    }

    [Fact]
    public async Task A_write_is_acknowledged_before_the_child_has_it_and_lands_afterwards()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        var r = await wb.WritevAsync(Ctx, fd, new byte[] { 1, 2, 3 }, 0).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(3, r.Value);
        Assert.Empty(leaf.Writes);
        Assert.Equal(3, wb.BytesHeld);
        leaf.Gate.SetResult();
        Assert.Equal(Errno.OK, await wb.FsyncAsync(Ctx, fd, false));
        Assert.Equal(new byte[] { 1, 2, 3 }, leaf.Content(fd.Inode.Gfid));
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task An_unlock_waits_until_the_holders_acknowledged_writes_are_on_the_child()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        var ctx = FopContext.Root();
        ctx.LockOwner = 5;
        var range = new FileLock { Type = LockType.Write, Start = 0, Length = 0, Owner = 5 };
        Assert.True((await wb.LkAsync(ctx, fd, LockCmd.SetLk, range)).Ok);
        leaf.Gate = new TaskCompletionSource();
        Assert.Equal(4096, (await wb.WritevAsync(ctx, fd, new byte[4096], 0)).Value); // acknowledged, held at the gate
        var unlock = wb.LkAsync(ctx, fd, LockCmd.SetLk, range with { Type = LockType.Unlock }).AsTask();
        await Task.Delay(50);
        Assert.False(unlock.IsCompleted);           // the unlock did not overtake the write
        Assert.Single(leaf.Locks);                  // and has not reached the child
        leaf.Gate.SetResult();
        Assert.True((await unlock.WaitAsync(TimeSpan.FromSeconds(5))).Ok);
        Assert.Equal((LockType.Unlock, 4096), leaf.Locks[1]); // the child had the data when the unlock reached it
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task Reads_and_stat_through_another_fd_see_acknowledged_writes()
    {
        var (g, wb, leaf) = await Build();
        var writer = NewFd(g);
        var reader = new Fd(writer.Inode, OpenFlags.O_RDONLY);
        leaf.Gate = new TaskCompletionSource();
        await wb.WritevAsync(Ctx, writer, "hello"u8.ToArray(), 0);
        var read = wb.ReadvAsync(Ctx, reader, new byte[16], 0).AsTask();
        var stat = wb.FstatAsync(Ctx, reader).AsTask();
        Assert.False(read.IsCompleted); // it waits for the queued write rather than reading stale data
        leaf.Gate.SetResult();
        Assert.Equal(5, (await read.WaitAsync(TimeSpan.FromSeconds(5))).Value);
        Assert.Equal(5, (await stat.WaitAsync(TimeSpan.FromSeconds(5))).Value.Size);
    }

    [Fact]
    public async Task Writes_land_in_order_and_small_contiguous_writes_are_coalesced()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        await wb.WritevAsync(Ctx, fd, new byte[] { 9 }, 0); // goes in flight, held at the gate
        for (int i = 1; i <= 100; i++) await wb.WritevAsync(Ctx, fd, new[] { (byte)i }, i);
        await wb.WritevAsync(Ctx, fd, new byte[] { 77 }, 5); // overwrites an earlier byte: order matters
        leaf.Gate.SetResult();
        Assert.Equal(Errno.OK, await wb.FlushAsync(Ctx, fd));
        var c = leaf.Content(fd.Inode.Gfid);
        Assert.Equal(101, c.Length);
        Assert.Equal(77, c[5]);
        Assert.Equal(100, c[100]);
        Assert.True(leaf.Writes.Count < 10, $"{leaf.Writes.Count} writes reached the child");
    }

    [Fact]
    public async Task A_failed_background_write_is_recorded_on_the_file_and_no_other_fop_returns_or_consumes_it()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        var other = new Fd(fd.Inode, OpenFlags.O_RDONLY);
        leaf.FailNextWrite = Errno.ENOSPC;
        Assert.Equal(4, (await wb.WritevAsync(Ctx, fd, new byte[4], 0)).Value); // acknowledged
        await WaitUntil(() => wb.BytesHeld == 0 && wb.Failures == 1);
        // Writes, reads and stat go on (Linux reports write-back errors only to fsync and close).
        Assert.Equal(4, (await wb.WritevAsync(Ctx, fd, new byte[4], 0)).Value);
        Assert.True((await wb.FstatAsync(Ctx, fd)).Ok);
        Assert.True((await wb.ReadvAsync(Ctx, other, new byte[4], 0)).Ok);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(Ctx, fd, false)); // the translator's fsync is the fop; the session reports
        // ... and the file holds it for every fd that was open, until each reports it.
        Assert.Equal(Errno.ENOSPC, fd.TakeWriteBackError());
        Assert.Equal(Errno.ENOSPC, other.TakeWriteBackError());
        Assert.Equal(Errno.ENOSPC, fd.WriteBackErrorSinceOpen);
    }

    [Fact]
    public async Task A_teardown_by_force_with_writes_held_records_EIO_on_those_files_only()
    {
        var (g, wb, leaf) = await Build();
        var held = NewFd(g);
        var idle = NewFd(g);
        Assert.Equal(1, (await wb.WritevAsync(Ctx, idle, new byte[1], 0)).Value);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(Ctx, idle, false)); // landed before the teardown
        leaf.Gate = new TaskCompletionSource();
        await wb.WritevAsync(Ctx, held, new byte[] { 1 }, 0);
        await WaitUntil(() => Volatile.Read(ref leaf.Arrived) == 2); // in flight, held at the gate
        await wb.WritevAsync(Ctx, held, new byte[] { 2 }, 0); // overlaps it: queued behind it
        Assert.True(wb.BytesHeld > 0);

        var destroy = g.DestroyAsync(); // no PARENT_DOWN handled: the retirement bound ran out
        Assert.Equal(Errno.EIO, held.PendingWriteBackError); // recorded at once, before the held call is failed below
        Assert.Equal(Errno.OK, idle.PendingWriteBackError);
        leaf.Gate.SetResult();
        await destroy.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(g.Destroyed.IsCompleted);
        await WaitUntil(() => wb.BytesHeld == 0);
        Assert.Equal(2, leaf.Writes.Count); // idle's, and the one in flight: what was queued was dropped, not written after the teardown
        Assert.Equal(Errno.EIO, held.TakeWriteBackError());
        Assert.Equal(Errno.EIO, held.WriteBackErrorSinceOpen);
    }

    [Fact]
    public async Task A_teardown_after_parent_down_drained_everything_records_nothing()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        await wb.WritevAsync(Ctx, fd, new byte[] { 5 }, 0);
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(5));
        await g.DestroyAsync();
        Assert.Equal(Errno.OK, fd.WriteBackErrorSinceOpen);
        Assert.Equal(new byte[] { 5 }, leaf.Content(fd.Inode.Gfid));
    }

    [Fact]
    public async Task O_SYNC_and_O_DIRECT_writes_are_never_delayed()
    {
        foreach (var flags in new[] { OpenFlags.O_RDWR | OpenFlags.O_SYNC, OpenFlags.O_RDWR | OpenFlags.O_DIRECT })
        {
            var (g, wb, leaf) = await Build();
            var fd = NewFd(g, flags);
            Assert.Equal(2, (await wb.WritevAsync(Ctx, fd, new byte[] { 1, 2 }, 0)).Value);
            Assert.Single(leaf.Writes); // the child had it before the acknowledgement
            Assert.Equal(0, wb.BytesHeld);
        }
    }

    [Fact]
    public async Task The_window_bounds_what_is_held_and_the_writer_waits_for_room()
    {
        var (g, wb, leaf) = await Build(new() { ["cache-size"] = "8KB", ["aggregate-size"] = "4KB" });
        var fd = NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        await wb.WritevAsync(Ctx, fd, new byte[4096], 0);
        await wb.WritevAsync(Ctx, fd, new byte[4096], 4096);
        var third = wb.WritevAsync(Ctx, fd, new byte[4096], 8192).AsTask();
        await Task.Delay(50);
        Assert.False(third.IsCompleted);
        Assert.True(wb.BytesHeld <= 8192);
        leaf.Gate.SetResult();
        Assert.Equal(4096, (await third.WaitAsync(TimeSpan.FromSeconds(5))).Value);
    }

    [Fact]
    public async Task Parent_down_waits_for_queued_writes_before_going_further_down()
    {
        var (g, wb, leaf) = await Build();
        var fd = NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        await wb.WritevAsync(Ctx, fd, new byte[] { 5 }, 0);
        g.SendParentDown();
        await Task.Delay(50);
        Assert.False(leaf.Drained);
        Assert.False(g.ParentDownHandled.IsCompleted);
        leaf.Gate.SetResult();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(leaf.Drained);
        Assert.Equal(new byte[] { 5 }, leaf.Content(fd.Inode.Gfid));
    }

    [Fact]
    public async Task Disabled_at_run_time_every_write_goes_straight_through()
    {
        var (g, wb, leaf) = await Build();
        wb.Reconfigure(new OptionValues(WriteBehindTranslator.Spec.Options, new Dictionary<string, string> { ["enable"] = "off" }));
        var fd = NewFd(g);
        await wb.WritevAsync(Ctx, fd, new byte[] { 1 }, 0);
        Assert.Single(leaf.Writes);
    }

    internal static async Task WaitUntil(Func<bool> cond)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!cond())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met within 5 s");
            await Task.Delay(5);
        }
    }
}

/// <summary>
/// The settle contract (<see cref="Translator.SettleAsync"/>): write-behind completes it only once
/// the inode's acknowledged writes are on its child, settles nothing it does not hold, and is
/// reached through the translators above it, which pass the contract down.
/// </summary>
public class WriteBehindSettlesAnInodeOnRequest
{
    private static readonly FopContext Ctx = FopContext.Root();

    [Fact]
    public async Task Settling_completes_once_the_inodes_queue_is_on_the_child()
    {
        var g = Graph.Linear(1, (MemoryLeaf.Spec, "mem", null), (WriteBehindTranslator.Spec, "wb", null));
        await g.InitAsync(CancellationToken.None);
        var (wb, leaf) = ((WriteBehindTranslator)g.Top, (MemoryLeaf)g.Translators[0]);
        var fd = WriteBehindTests.NewFd(g);
        var idle = WriteBehindTests.NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        Assert.Equal(3, (await wb.WritevAsync(Ctx, fd, new byte[] { 1, 2, 3 }, 0)).Value); // acknowledged, held at the gate

        var settle = wb.SettleAsync(fd.Inode).AsTask();
        Assert.True(wb.SettleAsync(idle.Inode).IsCompletedSuccessfully); // nothing held for that one: at once
        Assert.False(settle.IsCompleted);                               // the write is not on the child yet
        leaf.Gate.SetResult();
        await settle.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(new byte[] { 1, 2, 3 }, leaf.Content(fd.Inode.Gfid));
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task A_layer_above_passes_it_down_and_a_write_behind_below_settles_too()
    {
        // passthrough over write-behind over write-behind: the top one's queue lands in the lower
        // one's queue, which must then be written as well before the settle completes.
        var g = Graph.Linear(1, (MemoryLeaf.Spec, "mem", null), (WriteBehindTranslator.Spec, "wb1", null),
                             (WriteBehindTranslator.Spec, "wb2", null), (Graft.Xlators.Debug.Passthrough.Spec, "p", null));
        await g.InitAsync(CancellationToken.None);
        var (wb1, wb2, leaf) = ((WriteBehindTranslator)g.Translators[1], (WriteBehindTranslator)g.Translators[2], (MemoryLeaf)g.Translators[0]);
        var fd = WriteBehindTests.NewFd(g);
        leaf.Gate = new TaskCompletionSource();
        Assert.Equal(2, (await g.Top.WritevAsync(Ctx, fd, new byte[] { 7, 8 }, 0)).Value);

        var settle = g.Top.SettleAsync(fd.Inode).AsTask();
        Assert.False(settle.IsCompleted);
        leaf.Gate.SetResult();
        await settle.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(new byte[] { 7, 8 }, leaf.Content(fd.Inode.Gfid));
        Assert.Equal(0, wb1.BytesHeld + wb2.BytesHeld);
    }
}
