using Graft.Core;

namespace Graft.Xlators.Performance.WriteBehind;

// The fops write-behind takes part in. Everything that could observe data or size first settles
// the inode's queue. A background write that failed is recorded on the file's write-back error
// sequence (Inode.WriteBackErrors), never returned by whichever fop comes next: fsync and close
// report it to every fd open at the time, through the mount session (see ErrorSeq).
public sealed partial class WriteBehindTranslator
{
    private const int SyncFlags = OpenFlags.O_DSYNC | OpenFlags.O_DIRECT; // O_SYNC includes O_DSYNC

    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        var w = State(fd.Inode);
        if (!_enabled || (fd.Flags & SyncFlags) != 0 || data.Length > Volatile.Read(ref _window))
        {
            // Straight through, after what is already queued (order is kept).
            await w.WaitDrainedAsync(ctx.ContinueInline).ConfigureAwait(false);
            return await FirstChild!.WritevAsync(ctx, fd, data, offset).ConfigureAwait(false);
        }
        bool append = (fd.Flags & OpenFlags.O_APPEND) != 0;
        while (!w.TryEnqueue(fd, ctx, data, offset, append, out var room))
        {
            try { await room!.WaitAsync(ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return Errno.EINTR; } // nothing was queued
        }
        return data.Length;
    }

    public override async ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.ReadvAsync(ctx, fd, buffer, offset).ConfigureAwait(false);
    }

    /// <summary>close: the file's acknowledged writes land (or are recorded as failed) before the child sees FLUSH.</summary>
    public override async ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.FlushAsync(ctx, fd).ConfigureAwait(false);
    }

    /// <summary>fsync: as FLUSH; the mount session then reports what was recorded meanwhile.</summary>
    public override async ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.FsyncAsync(ctx, fd, dataOnly).ConfigureAwait(false);
    }

    /// <summary>
    /// Every lock request waits for the file's acknowledged writes to land first, as FLUSH does.
    /// An unlock is what lets another client in to read: the holder's writes must be on the brick
    /// before it, or the next holder reads what was there before them. (A lock taken, a GETLK, a
    /// reclaim: settling costs nothing when idle, and keeps "written, then locked" in that order.)
    /// </summary>
    public override async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.LkAsync(ctx, fd, cmd, lk).ConfigureAwait(false);
    }

    public override async ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.FstatAsync(ctx, fd).ConfigureAwait(false);
    }

    public override async ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.FsetattrAsync(ctx, fd, attr).ConfigureAwait(false);
    }

    public override async ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.FallocateAsync(ctx, fd, mode, offset, length).ConfigureAwait(false);
    }

    public override async ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence)
    {
        await LandedAsync(ctx, fd).ConfigureAwait(false);
        return await FirstChild!.LseekAsync(ctx, fd, offset, whence).ConfigureAwait(false);
    }

    public override async ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
    {
        await LandedAsync(ctx, fdIn).ConfigureAwait(false);
        await LandedAsync(ctx, fdOut).ConfigureAwait(false);
        return await FirstChild!.CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags).ConfigureAwait(false);
    }

    public override async ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
    {
        await LandedAsync(ctx, loc).ConfigureAwait(false);
        return await FirstChild!.StatAsync(ctx, loc).ConfigureAwait(false);
    }

    public override async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        await LandedAsync(ctx, loc).ConfigureAwait(false);
        return await FirstChild!.SetattrAsync(ctx, loc, attr).ConfigureAwait(false);
    }

    public override async ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        await LandedAsync(ctx, loc).ConfigureAwait(false);
        var r = await FirstChild!.LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
        // A named lookup learns the GFID only now: if that file has writes queued, its size is
        // not final yet; settle and ask again so the caller caches the right attributes.
        if (r.Ok && loc.IsNameless is false && Graph?.Inodes.Find(r.Value.Gfid) is { } inode && inode.GetCtx(this) is WbInode w && !w.Idle)
        {
            await w.WaitDrainedAsync(ctx.ContinueInline).ConfigureAwait(false);
            r = await FirstChild!.LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
        }
        return r;
    }

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        // Entries carry sizes: settle every file of this graph with queued writes first.
        WbInode[] busy;
        lock (_allSync) busy = [.. _busy];
        foreach (var w in busy) await w.WaitDrainedAsync(ctx.ContinueInline).ConfigureAwait(false);
        return await FirstChild!.ReaddirpAsync(ctx, fd, offset, maxEntries).ConfigureAwait(false);
    }

    public override async ValueTask ReleaseAsync(Fd fd)
    {
        // The fd must stay open below until its queued writes are written.
        await LandedAsync(fd.Inode).ConfigureAwait(false);
        await FirstChild!.ReleaseAsync(fd).ConfigureAwait(false);
    }
}
