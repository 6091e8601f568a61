using Graft.Core;

namespace Graft.Core.Tests;

/// <summary>
/// A file's write-back errors are recorded once on the file and reported to every fd open at the
/// time — on its next fsync (once) and on its close (every time) — never to an fd opened later.
/// </summary>
public class WriteBackErrorSequence
{
    private static Inode NewFile(InodeTable t) => t.Link(Gfid.Root, "f" + Guid.NewGuid().ToString("N"), Iatts.File(Gfid.NewGfid()));

    [Fact]
    public void A_cursor_sees_an_error_recorded_after_it_was_sampled_and_not_one_before()
    {
        var seq = new ErrorSeq();
        var before = seq.Sample();
        Assert.Equal(Errno.OK, seq.Check(before));
        seq.Record(Errno.EIO);
        var after = seq.Sample();
        Assert.Equal(Errno.EIO, seq.Check(before));
        Assert.Equal(Errno.OK, seq.Check(after));
        Assert.Equal(1, seq.Count);
    }

    [Fact]
    public void Check_consumes_nothing_and_check_and_advance_reports_once_per_error()
    {
        var seq = new ErrorSeq();
        var since = seq.Sample();
        seq.Record(Errno.ENOSPC);
        Assert.Equal(Errno.ENOSPC, seq.Check(since));
        Assert.Equal(Errno.ENOSPC, seq.Check(since));
        Assert.Equal(Errno.ENOSPC, seq.CheckAndAdvance(ref since));
        Assert.Equal(Errno.OK, seq.CheckAndAdvance(ref since));
        seq.Record(Errno.ENOSPC); // the same errno again is a new error
        Assert.Equal(Errno.ENOSPC, seq.CheckAndAdvance(ref since));
    }

    [Fact]
    public void The_latest_error_is_reported_and_causes_other_than_running_out_of_space_are_EIO()
    {
        var seq = new ErrorSeq();
        var since = seq.Sample();
        seq.Record(Errno.ENOSPC);
        seq.Record(Errno.ENOTCONN);
        Assert.Equal(Errno.EIO, seq.Check(since));
        seq.Record(Errno.EDQUOT);
        Assert.Equal(Errno.EDQUOT, seq.CheckAndAdvance(ref since));
        Assert.Equal(3, seq.Count);
    }

    [Fact]
    public void Of_concurrent_reports_on_one_cursor_exactly_one_gets_the_error()
    {
        for (int round = 0; round < 200; round++)
        {
            var seq = new ErrorSeq();
            var since = seq.Sample();
            seq.Record(Errno.EIO);
            int reported = 0;
            Parallel.For(0, 4, _ => { if (seq.CheckAndAdvance(ref since) != Errno.OK) Interlocked.Increment(ref reported); });
            Assert.Equal(1, reported);
        }
    }

    [Fact]
    public void Every_fd_open_at_the_time_sees_the_error_on_fsync_once_and_on_close_always()
    {
        var t = new InodeTable();
        var file = NewFile(t);
        var a = new Fd(file, OpenFlags.O_RDWR);
        var b = new Fd(file, OpenFlags.O_RDONLY); // not the writer: it is the file's error
        file.WriteBackErrors.Record(Errno.EIO);
        var later = new Fd(file, OpenFlags.O_RDWR);

        Assert.Equal(Errno.EIO, a.PendingWriteBackError);
        Assert.Equal(Errno.EIO, a.TakeWriteBackError());
        Assert.Equal(Errno.OK, a.TakeWriteBackError());      // the next fsync succeeds
        Assert.Equal(Errno.OK, a.PendingWriteBackError);
        Assert.Equal(Errno.EIO, a.WriteBackErrorSinceOpen);  // close still says so
        Assert.Equal(Errno.EIO, b.TakeWriteBackError());     // a reported it; b was not told yet
        Assert.Equal(Errno.OK, later.TakeWriteBackError());  // opened after the error
        Assert.Equal(Errno.OK, later.WriteBackErrorSinceOpen);

        file.WriteBackErrors.Record(Errno.ENOSPC);           // a new error reaches all three
        Assert.Equal(Errno.ENOSPC, a.TakeWriteBackError());
        Assert.Equal(Errno.ENOSPC, later.TakeWriteBackError());
        Assert.Equal(Errno.ENOSPC, later.WriteBackErrorSinceOpen);
    }

    [Fact]
    public void Another_file_is_not_affected()
    {
        var t = new InodeTable();
        var f = new Fd(NewFile(t), OpenFlags.O_RDWR);
        var g = new Fd(NewFile(t), OpenFlags.O_RDWR);
        f.Inode.WriteBackErrors.Record(Errno.EIO);
        Assert.Equal(Errno.OK, g.TakeWriteBackError());
        Assert.Equal(Errno.OK, g.WriteBackErrorSinceOpen);
    }
}
