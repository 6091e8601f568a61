using Graft.Core;

namespace Graft.Xlators.Tests.Performance;

/// <summary>A front end's buffer lent to write-behind (the FUSE bridge's, in a mount): it records each loan and return.</summary>
internal sealed class TestLender(byte[] buffer) : IPayloadLender
{
    public int Lent, GivenBack;
    public bool Refuse;

    public bool TryLend(ReadOnlySpan<byte> data)
    {
        if (Refuse || !data.Overlaps(buffer)) return false;
        Interlocked.Increment(ref Lent);
        return true;
    }

    public void GiveBack() => Interlocked.Increment(ref GivenBack);
}

/// <summary>
/// write-behind costs few thread hand-offs: a pump starts on the writer's thread, a waiter whose context says
/// ContinueInline goes on on the thread that finished the last write, and a big write is kept in the front end's lent
/// buffer rather than copied — with the same ordering, the same landing before fsync and close, and the same teardown.
/// </summary>
public class WriteBehindHandsOffLittle
{
    private static FopContext Inline() => new() { ContinueInline = true };

    [Fact]
    public async Task The_first_write_is_sent_below_on_the_writers_own_thread()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 2);
        var fd = WriteBehindTests.NewFd(g);
        int writer = Environment.CurrentManagedThreadId;
        var ack = wb.WritevAsync(Inline(), fd, HeldWrites.Fill(1), 0);
        Assert.True(ack.IsCompletedSuccessfully);         // acknowledged without waiting for the child
        Assert.Equal(1, Volatile.Read(ref leaf.Arrived)); // and the child had it before the acknowledgement
        Assert.Equal(writer, leaf.ArrivedOn);             // sent from the writer's thread: no pool thread was woken for it
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(FopContext.Root(), fd, false).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task A_flush_whose_context_continues_inline_goes_on_on_the_thread_that_answered_the_last_write()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 1);
        var fd = WriteBehindTests.NewFd(g);
        await wb.WritevAsync(Inline(), fd, HeldWrites.Fill(1), 0);
        await wb.WritevAsync(Inline(), fd, HeldWrites.Fill(2), 0); // overlaps: waits for the first
        int flushedOn = 0;
        var flush = wb.FlushAsync(Inline(), fd).AsTask()
            .ContinueWith(t => { flushedOn = Environment.CurrentManagedThreadId; return t.Result; }, TaskContinuationOptions.ExecuteSynchronously);
        Assert.False(flush.IsCompleted);
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await flush.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(leaf.AnsweredOn, flushedOn); // no hand-off to the pool between the write's answer and the flush
        Assert.Equal(2, leaf.Content(fd.Inode.Gfid)[0]);
    }

    [Fact]
    public async Task A_lent_buffer_is_written_as_it_is_and_given_back_once_written()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 1);
        var fd = WriteBehindTests.NewFd(g);
        var buffer = HeldWrites.Fill(7, 8192);
        var lender = new TestLender(buffer);
        var ctx = Inline();
        ctx.Payload = lender;
        await wb.WritevAsync(ctx, fd, HeldWrites.Fill(1), 0);             // in flight, held; copied (lent nothing)
        Assert.Equal(8192, (await wb.WritevAsync(ctx, fd, buffer, 4096)).Value); // queued behind it, in the lent buffer
        ctx.Payload = null;
        Assert.Equal(1, (await wb.WritevAsync(ctx, fd, new byte[] { 9 }, 4096 + 8192)).Value); // continues it: never into the lender's buffer
        Assert.Equal(1, lender.Lent);
        Assert.Equal(0, lender.GivenBack); // queued: still lent
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 3);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(FopContext.Root(), fd, false).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, lender.GivenBack);
        Assert.All(buffer, b => Assert.Equal(7, b)); // the lender's bytes were never written into
        var c = leaf.Content(fd.Inode.Gfid);
        Assert.Equal(4096 + 8192 + 1, c.Length);
        Assert.All(c[4096..(4096 + 8192)], b => Assert.Equal(7, b));
        Assert.Equal(9, c[^1]);
        Assert.Equal(0, wb.BytesHeld);
    }

    [Fact]
    public async Task A_refused_loan_is_copied_so_the_caller_may_reuse_its_buffer_at_once()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 1);
        var fd = WriteBehindTests.NewFd(g);
        var buffer = HeldWrites.Fill(3, 8192);
        var ctx = Inline();
        ctx.Payload = new TestLender(buffer) { Refuse = true };
        await wb.WritevAsync(ctx, fd, HeldWrites.Fill(1), 0);
        await wb.WritevAsync(ctx, fd, buffer, 4096);
        Array.Fill(buffer, (byte)0xEE); // the caller's buffer is reused as soon as it is acknowledged
        HeldWrites.ReleaseAll(leaf);
        await HeldWrites.ExactlyArrivedAsync(leaf, 2);
        HeldWrites.ReleaseAll(leaf);
        Assert.Equal(Errno.OK, await wb.FsyncAsync(FopContext.Root(), fd, false).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.All(leaf.Content(fd.Inode.Gfid)[4096..], b => Assert.Equal(3, b));
    }

    [Fact]
    public async Task A_teardown_with_writes_queued_gives_lent_buffers_back_and_completes_every_drain_waiter()
    {
        var (g, wb, _, leaf) = await HeldWrites.BuildAsync(inFlight: 1);
        var fd = WriteBehindTests.NewFd(g);
        var buffer = HeldWrites.Fill(5, 8192);
        var lender = new TestLender(buffer);
        var ctx = Inline();
        await wb.WritevAsync(ctx, fd, HeldWrites.Fill(1), 0); // in flight, held
        ctx.Payload = lender;
        await wb.WritevAsync(ctx, fd, buffer, 0);             // overlaps: queued, in the lent buffer
        ctx.Payload = null;
        await wb.WritevAsync(ctx, fd, HeldWrites.Fill(2), 0); // queued too
        await HeldWrites.ExactlyArrivedAsync(leaf, 1);
        var flushInline = wb.FlushAsync(Inline(), fd).AsTask();
        var fsyncOnPool = wb.FsyncAsync(FopContext.Root(), fd, false).AsTask();
        var settle = wb.SettleAsync(fd.Inode).AsTask();

        var destroy = g.DestroyAsync(); // no PARENT_DOWN: the retirement bound ran out
        Assert.Equal(Errno.EIO, fd.PendingWriteBackError);
        Assert.Equal(1, lender.GivenBack); // the dropped write's loan ended at once, not when the graph is gone
        Assert.False(flushInline.IsCompleted); // one write is still in flight
        HeldWrites.ReleaseAll(leaf);
        await destroy.WaitAsync(TimeSpan.FromSeconds(5));
        await Task.WhenAll(flushInline, fsyncOnPool, settle).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, wb.BytesHeld);
        Assert.Equal(1, Volatile.Read(ref leaf.Arrived)); // nothing queued was sent after the teardown
        Assert.True(wb.FlushAsync(Inline(), fd).IsCompleted); // nothing left to wait for: the inode is not busy
    }
}
