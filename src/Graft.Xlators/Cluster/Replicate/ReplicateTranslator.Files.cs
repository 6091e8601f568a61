using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// Open files and attributes: an open goes to every copy that is up (a copy it missed is not
// written through that fd, and stays blamed for what the fd writes); changes to attributes and
// xattrs are transactions (metadata, or data for a size change); reads by loc or fd go to one
// healthy copy. Replicate's own xattrs (trusted.graft.pending.*) are never shown to, set or
// removed by anything above it.
public sealed partial class ReplicateTranslator
{
    // Only replicate's own counters are screened here: other trusted.graft.* xattrs (distribute's
    // layouts above replicate) are replicated like any other, and storage/posix judges them.
    private static Errno Screen(string name, bool write) => Pending.IsPending(name) ? (write ? Errno.EPERM : Errno.ENODATA) : Errno.OK;

    private static string[] Visible(string[] names) => Array.Exists(names, Pending.IsPending) ? Array.FindAll(names, n => !Pending.IsPending(n)) : names;

    private static int KindOf(in SetAttr attr) => (attr.Valid & SetAttrValid.Size) != 0 ? Pending.Data : Pending.Metadata;

    private uint OpenedOn(Fd fd) => fd.GetCtx(this) is ReplFd f ? f.Opened : 0;

    // ---- open ----

    public override async ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
    {
        var st = StateOf(fd.Inode);
        if (!st.Judged) await JudgeAsync(Trusted(ctx), Loc.Of(fd.Inode), st, UpMask, null).ConfigureAwait(false);
        if (st.SplitBrain) { Interlocked.Increment(ref _splitBrainRefusals); return Errno.EIO; }
        // O_TRUNC changes data: opened without it, then truncated in a transaction.
        bool trunc = (flags & OpenFlags.O_TRUNC) != 0 && (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY;
        int childFlags = flags & ~OpenFlags.O_TRUNC;
        var r = await FanOutAsync(UpMask, i => Children[i].OpenAsync(ctx, loc, childFlags, fd)).ConfigureAwait(false);
        uint opened = Succeeded(r);
        if (opened == 0) return FirstOk(r, _allMask).Error;
        fd.SetCtx(this, new ReplFd(opened));
        if (!trunc) return Errno.OK;
        var t = await FsetattrAsync(ctx, fd, new SetAttr { Valid = SetAttrValid.Size, Size = 0 }).ConfigureAwait(false);
        if (t.Ok) return Errno.OK;
        await ReleaseAsync(fd).ConfigureAwait(false);
        return t.Error;
    }

    public override async ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
    {
        var r = await FanOutAsync(UpMask, i => Children[i].OpendirAsync(ctx, loc, fd)).ConfigureAwait(false);
        uint opened = Succeeded(r);
        if (opened == 0) return FirstOk(r, _allMask).Error;
        // A directory never looked up (the root: paths start there without a lookup) has no verdict yet:
        // without one its listing could come from a copy that missed entries.
        var st = StateOf(fd.Inode);
        if (!st.Judged) await JudgeAsync(Trusted(ctx), Loc.Nameless(fd.Inode.Gfid), st, opened, null).ConfigureAwait(false);
        fd.SetCtx(this, new ReplFd(opened));
        return Errno.OK;
    }

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        ListAsync(fd, offset, c => Children[c].ReaddirAsync(ctx, fd, offset, maxEntries));

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        ListAsync(fd, offset, c => Children[c].ReaddirpAsync(ctx, fd, offset, maxEntries));

    /// <summary>A listing from one copy: the one that gave its first entries (its cookies mean nothing elsewhere).</summary>
    private async ValueTask<Result<IReadOnlyList<DirEntry>>> ListAsync(Fd fd, long offset, Func<int, ValueTask<Result<IReadOnlyList<DirEntry>>>> call)
    {
        if (fd.GetCtx(this) is not ReplFd f) return Errno.EBADF;
        if (offset != 0 && f.ListChild >= 0)
        {
            var r = await call(f.ListChild).ConfigureAwait(false);
            return r.Ok ? new Result<IReadOnlyList<DirEntry>>(Attributes(r.Value, f.ListChild)) : r;
        }
        var st = StateOf(fd.Inode);
        uint tried = 0;
        Result<IReadOnlyList<DirEntry>> last = Errno.ENOTCONN;
        while (true)
        {
            int c = PickReader(Readable(st, f.Opened) & ~tried, fd.Inode.Gfid);
            if (c < 0) return tried == 0 ? NoReader(st, f.Opened) : last;
            tried |= 1u << c;
            last = await call(c).ConfigureAwait(false);
            if (last.Ok) { f.ListChild = c; return new Result<IReadOnlyList<DirEntry>>(Attributes(last.Value, c)); }
            if (!Retryable(last.Error)) return last;
        }
    }

    /// <summary>
    /// readdirp's attributes come from one copy: where that copy needs heal for an entry, or this
    /// client has no verdict on it yet while some copy is down, they are dropped (the kernel looks
    /// the entry up, and lookup answers from a good copy).
    /// </summary>
    private IReadOnlyList<DirEntry> Attributes(IReadOnlyList<DirEntry> entries, int child)
    {
        bool doubt = UpMask != _allMask;
        List<DirEntry>? copy = null;
        for (int k = 0; k < entries.Count; k++)
        {
            var e = entries[k];
            if (e.Iatt is null) continue;
            var st = Graph?.Inodes.Find(e.Gfid)?.GetCtx(this) as ReplInode;
            bool trust = st is { Judged: true } ? (Volatile.Read(ref st.Bad) & (1u << child)) == 0 && !st.SplitBrain : !doubt;
            if (trust) continue;
            copy ??= [.. entries];
            copy[k] = new DirEntry { Name = e.Name, Gfid = e.Gfid, Ino = e.Ino, Type = e.Type, NextOffset = e.NextOffset };
        }
        return copy ?? entries;
    }

    // ---- attributes ----

    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc) => ReadOneAsync(loc, c => Children[c].StatAsync(ctx, loc));

    public override ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd) => ReadOneAsync(fd, c => Children[c].FstatAsync(ctx, fd));

    public override async ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask) =>
        (await ReadOneAsync(loc, async c => { var e = await Children[c].AccessAsync(ctx, loc, mask).ConfigureAwait(false); return e == Errno.OK ? new Result<bool>(true) : e; }).ConfigureAwait(false)).Error;

    public override ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc) => ReadOneAsync(loc, c => Children[c].ReadlinkAsync(ctx, loc));

    public override ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr) =>
        TransactAsync(ctx, ObjectTarget(loc), KindOf(attr), _allMask, i => Children[i].SetattrAsync(ctx, loc, attr));

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr) =>
        TransactAsync(ctx, FdTarget(fd), KindOf(attr), OpenedOn(fd), i => Children[i].FsetattrAsync(ctx, fd, attr));

    private TxnTarget FdTarget(Fd fd) => new(Loc.Of(fd.Inode), StateOf(fd.Inode), null);

    // ---- data ----

    /// <summary>
    /// close(): the file's open write window ends here, unless the release of this fd, which follows, can end it
    /// with each copy's release (one request per copy instead of two; until then, or post-op-delay, the copies
    /// count themselves in the window, as while it was open).
    /// </summary>
    public override async ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd)
    {
        var st = StateOf(fd.Inode);
        if (!ReleaseEndsWindow(st, fd)) await CloseWindowAsync(st, ctx.ContinueInline).ConfigureAwait(false);
        return await AnyAsync(OpenedOn(fd), i => Children[i].FlushAsync(ctx, fd)).ConfigureAwait(false);
    }

    public override async ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        await CloseWindowAsync(StateOf(fd.Inode), ctx.ContinueInline).ConfigureAwait(false);
        return await AnyAsync(OpenedOn(fd), i => Children[i].FsyncAsync(ctx, fd, dataOnly)).ConfigureAwait(false);
    }

    public override async ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        await CloseLeaseAsync(StateOf(fd.Inode), ctx.ContinueInline).ConfigureAwait(false);
        return await AnyAsync(OpenedOn(fd), i => Children[i].FsyncdirAsync(ctx, fd, dataOnly)).ConfigureAwait(false);
    }

    /// <summary>
    /// A call that changes nothing replicated (flush, fsync) on every copy in <paramref name="on"/>
    /// that is up: OK when one said OK. It needs no quorum: the writes it makes durable were
    /// acknowledged only once quorum copies had them, and a read-only fd must close without quorum.
    /// </summary>
    private async ValueTask<Errno> AnyAsync(uint on, Func<int, ValueTask<Errno>> call)
    {
        uint up = on & UpMask;
        var r = await FanOutAsync(up, call).ConfigureAwait(false);
        return Succeeded(r) != 0 ? Errno.OK : FirstOk(r, up).Error;
    }

    public override async ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length) =>
        (await TransactAsync(ctx, FdTarget(fd), Pending.Data, OpenedOn(fd),
            async i => { var e = await Children[i].FallocateAsync(ctx, fd, mode, offset, length).ConfigureAwait(false); return e == Errno.OK ? new Result<bool>(true) : e; }).ConfigureAwait(false)).Error;

    /// <summary>The copy is made on each child between its copies of the two files.</summary>
    public override ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags) =>
        TransactAsync(ctx, FdTarget(fdOut), Pending.Data, OpenedOn(fdIn) & OpenedOn(fdOut),
            i => Children[i].CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags));

    public override ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence) =>
        ReadOneAsync(fd, c => Children[c].LseekAsync(ctx, fd, offset, whence));

    /// <summary>The file's open write window ends, on each copy with this fd's release where the brick can take both in one request.</summary>
    public override async ValueTask ReleaseAsync(Fd fd)
    {
        if (fd.GetCtx(this) is not ReplFd f) return;
        uint released = await CloseWindowAsync(StateOf(fd.Inode), fd.ReleaseInline, fd, f.Opened).ConfigureAwait(false);
        fd.SetCtx(this, null);
        for (int i = 0; i < Children.Count; i++)
            if ((f.Opened & ~released & (1u << i)) != 0) await Children[i].ReleaseAsync(fd).ConfigureAwait(false);
    }

    public override async ValueTask ReleasedirAsync(Fd fd)
    {
        if (fd.GetCtx(this) is not ReplFd f) return;
        fd.SetCtx(this, null);
        for (int i = 0; i < Children.Count; i++)
            if ((f.Opened & (1u << i)) != 0) await Children[i].ReleasedirAsync(fd).ConfigureAwait(false);
    }

    // ---- locks: held on every copy, taken in child order so two clients cannot deadlock across copies ----

    public override async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        if (cmd == LockCmd.GetLk) return await ReadOneAsync(fd, c => Children[c].LkAsync(ctx, fd, cmd, lk)).ConfigureAwait(false);
        uint on = OpenedOn(fd) & UpMask;
        if (on == 0) return Errno.ENOTCONN;
        uint held = 0;
        Result<FileLock> first = Errno.ENOTCONN;
        for (int i = 0; i < Children.Count; i++)
        {
            if ((on & (1u << i)) == 0) continue;
            var r = await Children[i].LkAsync(ctx, fd, cmd, lk).ConfigureAwait(false);
            if (r.Ok) { held |= 1u << i; if (!first.Ok) first = r; continue; }
            if (r.Error == Errno.ENOTCONN) continue;
            if (lk.Type == LockType.Unlock) continue;
            // Refused on one copy: give back what the others granted, so no copy holds a lock the caller was told it lacks.
            var undo = lk;
            undo.Type = LockType.Unlock;
            for (int j = 0; j < i; j++)
                if ((held & (1u << j)) != 0) await Children[j].LkAsync(ctx, fd, LockCmd.SetLk, undo).ConfigureAwait(false);
            return r;
        }
        return held != 0 ? first : Errno.ENOTCONN;
    }

    public override async ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to)
    {
        var r = await FanOutAsync(OpenedOn(to) & UpMask, i => Children[i].RebindLocksAsync(ctx, from, to)).ConfigureAwait(false);
        return FirstOk(r, _allMask);
    }

    // ---- xattrs ----

    public override ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags) =>
        Screen(name, write: true) is var s && s != Errno.OK ? new(s)
            : ErrnoOf(TransactAsync(ctx, ObjectTarget(loc), Pending.Metadata, _allMask, i => AsResult(Children[i].SetxattrAsync(ctx, loc, name, value, flags))));

    public override ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name) =>
        Screen(name, write: true) is var s && s != Errno.OK ? new(s)
            : ErrnoOf(TransactAsync(ctx, ObjectTarget(loc), Pending.Metadata, _allMask, i => AsResult(Children[i].RemovexattrAsync(ctx, loc, name))));

    public override ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags) =>
        Screen(name, write: true) is var s && s != Errno.OK ? new(s)
            : ErrnoOf(TransactAsync(ctx, FdTarget(fd), Pending.Metadata, OpenedOn(fd), i => AsResult(Children[i].FsetxattrAsync(ctx, fd, name, value, flags))));

    public override ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name) =>
        Screen(name, write: true) is var s && s != Errno.OK ? new(s)
            : ErrnoOf(TransactAsync(ctx, FdTarget(fd), Pending.Metadata, OpenedOn(fd), i => AsResult(Children[i].FremovexattrAsync(ctx, fd, name))));

    public override ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name) =>
        Screen(name, write: false) is var s && s != Errno.OK ? new(new Result<byte[]>(s)) : ReadOneAsync(loc, c => Children[c].GetxattrAsync(ctx, loc, name));

    public override ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name) =>
        Screen(name, write: false) is var s && s != Errno.OK ? new(new Result<byte[]>(s)) : ReadOneAsync(fd, c => Children[c].FgetxattrAsync(ctx, fd, name));

    public override async ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
    {
        var r = await ReadOneAsync(loc, c => Children[c].ListxattrAsync(ctx, loc)).ConfigureAwait(false);
        return r.Ok ? Visible(r.Value) : r;
    }

    public override async ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd)
    {
        var r = await ReadOneAsync(fd, c => Children[c].FlistxattrAsync(ctx, fd)).ConfigureAwait(false);
        return r.Ok ? Visible(r.Value) : r;
    }

    /// <summary>Counters are replicate's own business: nothing above it adds to them.</summary>
    public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas) =>
        Screen(name, write: true) is var s && s != Errno.OK ? new(new Result<byte[]>(s))
            : TransactAsync(ctx, ObjectTarget(loc), Pending.Metadata, _allMask, i => Children[i].XattropAsync(ctx, loc, name, deltas));

    /// <summary>Only replicate's own transactions lock and count on its bricks: ENOSYS (callers make the two calls).</summary>
    public override ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                  string? name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <summary>As above: ENOSYS, so a caller creates alone.</summary>
    public override ValueTask<Result<LockedCreate>> CreateInodeLkXattropAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd,
                                                                              string domain, FileLock lk, string name, ReadOnlyMemory<byte> deltas) =>
        new(new Result<LockedCreate>(Errno.ENOSYS));

    /// <summary>Counters through an fd are the bricks' own form (features/locks, protocol/server): ENOSYS, nothing done.</summary>
    public override ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <inheritdoc cref="FxattropAsync"/>
    public override ValueTask<Result<byte[]>> FinodeLkXattropAsync(FopContext ctx, Fd fd, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                   string? name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <summary>As above: ENOSYS, nothing done (the fd stays open).</summary>
    public override ValueTask<Result<byte[]>> ReleaseInodeLkXattropAsync(FopContext ctx, Fd fd, string domain, LockType type, long start, long length,
                                                                         string name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    public override ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc) =>
        ReadOneAsync(Loc.Nameless(Gfid.Root), c => Children[c].StatfsAsync(ctx, loc));

    private static async ValueTask<Result<bool>> AsResult(ValueTask<Errno> call)
    {
        var e = await call.ConfigureAwait(false);
        return e == Errno.OK ? true : e;
    }

    private static async ValueTask<Errno> ErrnoOf<T>(ValueTask<Result<T>> call) => (await call.ConfigureAwait(false)).Error;
}
