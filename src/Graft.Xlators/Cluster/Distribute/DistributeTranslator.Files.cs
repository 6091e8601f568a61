using System.Runtime.CompilerServices;
using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// Open files go to the subvolume the file was opened on (kept on the fd: the hot path is one
// context read and a call); path fops on a file to the subvolume that holds it; on a directory,
// changes go to every copy and reads to the first.
public sealed partial class DistributeTranslator
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Translator? FileChild(Fd fd) => fd.GetCtx(this) is DhtFd f ? Children[f.Subvol] : null;

    private static ValueTask<Result<T>> BadFd<T>() => new(new Result<T>(Errno.EBADF));

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd) =>
        AwaitMoveAsync(ctx, loc.Inode, null, () => OpenOnceAsync(ctx, loc, flags, fd));

    private async ValueTask<Errno> OpenOnceAsync(FopContext ctx, Loc loc, int flags, Fd fd)
    {
        var r = await OnFileAsync(ctx, loc, (c, l) => Children[c].OpenAsync(ctx, l, flags, fd)).ConfigureAwait(false);
        if (r.Error == Errno.OK) fd.SetCtx(this, new DhtFd(r.Subvol));
        return r.Error;
    }

    /// <summary>
    /// Runs a fop on the subvolume that holds the file; if that answers ESTALE or ENOENT for the
    /// object (it was moved by a rebalance since we last saw it) finds it again, once.
    /// </summary>
    private async ValueTask<(Errno Error, int Subvol)> OnFileAsync(FopContext ctx, Loc loc, Func<int, Loc, ValueTask<Errno>> call)
    {
        var r = await OnFileAsync(ctx, loc, async (c, l) => { var e = await call(c, l).ConfigureAwait(false); return e == Errno.OK ? new Result<int>(c) : e; }).ConfigureAwait(false);
        return r.Ok ? (Errno.OK, r.Value) : (r.Error, -1);
    }

    private async ValueTask<Result<T>> OnFileAsync<T>(FopContext ctx, Loc loc, Func<int, Loc, ValueTask<Result<T>>> call)
    {
        int c = await CachedSubvolAsync(ctx, loc).ConfigureAwait(false);
        if (c < 0) return (Errno)(-c);
        var r = await call(c, loc).ConfigureAwait(false);
        if (r.Error is not (Errno.ESTALE or Errno.ENOENT) || !loc.IsNameless && loc.Inode is null) return r;
        var gfid = loc.Inode?.Gfid ?? loc.Gfid;
        if (CtxOf(loc.Inode) is { } known) known.Cached = -1;
        var again = await LookupByGfidAsync(ctx, Loc.Nameless(gfid), null).ConfigureAwait(false);
        if (!again.Ok) return r;
        int c2 = CachedOf(gfid);
        return c2 < 0 || c2 == c ? r : await call(c2, loc).ConfigureAwait(false);
    }

    private bool IsDirLoc(in Loc loc) => loc.Inode?.IsDir ?? false;

    // ---- attributes ----

    public override async ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
    {
        if (!IsDirLoc(loc)) return await OnFileAsync(ctx, loc, (c, l) => Children[c].StatAsync(ctx, l)).ConfigureAwait(false);
        return await OnDirReadAllAsync(ctx, loc).ConfigureAwait(false);
    }

    /// <summary>A directory's attributes from every copy, merged (mtime and ctime change on the copy that got a new name).</summary>
    private async ValueTask<Result<Iatt>> OnDirReadAllAsync(FopContext ctx, Loc loc)
    {
        var dir = loc.Inode;
        long gen = BeginCopies(dir);
        var all = AllSubvols();
        var got = await FanOutAsync(all, i => Children[i].StatAsync(ctx, loc)).ConfigureAwait(false);
        NoteCopies(dir, gen, all, got);
        Iatt? merged = null;
        Errno first = Errno.OK;
        foreach (var r in got)
        {
            if (r.Ok) merged = merged is { } m ? MergeDir(m, r.Value) : r.Value;
            else if (first == Errno.OK || first == Errno.ENOTCONN) first = r.Error;
        }
        return merged is { } x ? x : first;
    }

    public override ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd) =>
        FileChild(fd) is { } c ? c.FstatAsync(ctx, fd) : BadFd<Iatt>();

    public override async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        if (!IsDirLoc(loc))
            return await AwaitMoveAsync(ctx, loc.Inode, null, () => OnFileAsync(ctx, loc, (c, l) => Children[c].SetattrAsync(ctx, l, attr))).ConfigureAwait(false);
        return await ChangingDirsAsync(loc.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => Children[i].SetattrAsync(ctx, loc, attr))).ConfigureAwait(false);
    }

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        if (fd.GetCtx(this) is not DhtFd f) return BadFd<Iatt>();
        if (f.Opened is { } opened)
            return ChangingDirsAsync(fd.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => opened[i] ? Children[i].FsetattrAsync(ctx, fd, attr) : new(new Result<Iatt>(Errno.ENOENT))));
        return AwaitMoveAsync(ctx, null, null, () => Children[f.Subvol].FsetattrAsync(ctx, fd, attr));
    }

    /// <summary>
    /// A change to a directory: on the first copy that exists, which judges it (a refusal there
    /// changes nothing), then on the others at once. ENOENT from a copy means there is none.
    /// </summary>
    private async ValueTask<Result<T>> OnDirWriteAllAsync<T>(FopContext ctx, Func<int, ValueTask<Result<T>>> call)
    {
        int first = 0;
        Result<T> r = Errno.ENOENT;
        for (; first < Children.Count; first++)
        {
            r = await call(first).ConfigureAwait(false);
            if (r.Error is not (Errno.ENOTCONN or Errno.ENOENT or Errno.ESTALE)) break;
        }
        if (!r.Ok) return r;
        await FanOutAsync(Enumerable.Range(first + 1, Children.Count - first - 1).ToArray(), call).ConfigureAwait(false);
        return r;
    }

    private async ValueTask<Errno> OnDirWriteAllAsync(FopContext ctx, Func<int, ValueTask<Errno>> call)
    {
        var r = await OnDirWriteAllAsync(ctx, async i => { var e = await call(i).ConfigureAwait(false); return e == Errno.OK ? new Result<bool>(true) : e; }).ConfigureAwait(false);
        return r.Error;
    }

    /// <summary>A read of a directory: the first copy that answers.</summary>
    private async ValueTask<Result<T>> OnDirReadAsync<T>(Func<int, ValueTask<Result<T>>> call)
    {
        Result<T> r = Errno.ENOTCONN;
        for (int i = 0; i < Children.Count; i++)
        {
            r = await call(i).ConfigureAwait(false);
            if (r.Error is not (Errno.ENOTCONN or Errno.ENOENT or Errno.ESTALE)) return r;
        }
        return r;
    }

    public override async ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask)
    {
        if (IsDirLoc(loc))
            return (await OnDirReadAsync(async i => { var e = await Children[i].AccessAsync(ctx, loc, mask).ConfigureAwait(false); return e == Errno.OK ? new Result<bool>(true) : e; }).ConfigureAwait(false)).Error;
        return (await OnFileAsync(ctx, loc, (c, l) => Children[c].AccessAsync(ctx, l, mask)).ConfigureAwait(false)).Error;
    }

    public override async ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc) =>
        await OnFileAsync(ctx, loc, (c, l) => Children[c].ReadlinkAsync(ctx, l)).ConfigureAwait(false);

    // ---- data: the hot path, one context read and the child's own ValueTask ----

    public override ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset) =>
        FileChild(fd) is { } c ? c.ReadvAsync(ctx, fd, buffer, offset) : BadFd<int>();

    public override ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset) =>
        FileChild(fd) is { } c ? c.WritevAsync(ctx, fd, data, offset) : BadFd<int>();

    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) =>
        FileChild(fd) is { } c ? c.FlushAsync(ctx, fd) : new(Errno.EBADF);

    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly) =>
        FileChild(fd) is { } c ? c.FsyncAsync(ctx, fd, dataOnly) : new(Errno.EBADF);

    /// <summary>Both files on one subvolume: the copy is made there; otherwise EXDEV, and the kernel copies through the mount.</summary>
    public override ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
    {
        if (fdIn.GetCtx(this) is not DhtFd a || fdOut.GetCtx(this) is not DhtFd b) return BadFd<long>();
        if (a.Subvol != b.Subvol) return new(new Result<long>(Errno.EXDEV));
        return Children[a.Subvol].CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags);
    }

    public override ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length) =>
        FileChild(fd) is { } c ? c.FallocateAsync(ctx, fd, mode, offset, length) : new(Errno.EBADF);

    public override ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence) =>
        FileChild(fd) is { } c ? c.LseekAsync(ctx, fd, offset, whence) : BadFd<long>();

    /// <summary>Locks live on the brick that holds the file (a directory's: its first open copy).</summary>
    public override ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk) =>
        FileChild(fd) is { } c ? c.LkAsync(ctx, fd, cmd, lk) : BadFd<FileLock>();

    /// <summary>The new fd's subvolume re-binds; the brick finds the old fd's session by its own identity.</summary>
    public override ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to) =>
        FileChild(to) is { } c ? c.RebindLocksAsync(ctx, from, to) : BadFd<int>();

    public override ValueTask ReleaseAsync(Fd fd)
    {
        if (fd.GetCtx(this) is not DhtFd f) return ValueTask.CompletedTask;
        fd.SetCtx(this, null);
        return Children[f.Subvol].ReleaseAsync(fd);
    }

    // ---- statfs: the volume is the sum of its subvolumes ----

    public override async ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc)
    {
        // Asked of each brick's root: the object the caller named may exist on one brick only.
        var got = await FanOutAsync(AllSubvols(), i => Children[i].StatfsAsync(ctx, Loc.Nameless(Gfid.Root))).ConfigureAwait(false);
        StatVfs? sum = null;
        Errno first = Errno.OK;
        foreach (var r in got)
        {
            if (!r.Ok) { if (first == Errno.OK) first = r.Error; continue; }
            if (sum is not { } s) { sum = r.Value; continue; }
            var v = r.Value;
            // Counts are in each brick's own fragment size: convert to the first one's.
            double k = s.Frsize == 0 ? 1 : (double)v.Frsize / s.Frsize;
            s.Blocks += (ulong)(v.Blocks * k);
            s.Bfree += (ulong)(v.Bfree * k);
            s.Bavail += (ulong)(v.Bavail * k);
            s.Files += v.Files;
            s.Ffree += v.Ffree;
            s.NameMax = Math.Min(s.NameMax, v.NameMax);
            sum = s;
        }
        return sum is { } x ? x : first;
    }
}
