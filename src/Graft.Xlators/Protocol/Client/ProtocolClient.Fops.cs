using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

// Every fop goes over the wire. Path fops carry GFIDs and names; fd fops carry the remote fd id
// valid on the connection they are sent on. A fop whose arguments and answer map one to one onto
// its wire layout is sent by generated code ([GeneratesFopClient]); the ones here do more.
[GeneratesFopClient]
public sealed partial class ProtocolClient
{
    private static WireLoc L(in Loc loc) => WireLoc.From(loc);

    private ValueTask<FopReply> FdCallAsync(FopContext ctx, Fd fd, FopRequest q)
    {
        var e = Resolve(fd, out var conn, out var id);
        if (e != Errno.OK) return new(new FopReply(e));
        q.Fd = id;
        q.Caller = WireCaller.From(ctx);
        return CallOnAsync(conn!, q, bounded: true, ctx.ContinueInline);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Result<Iatt>> IattOf(ValueTask<FopReply> call)
    {
        var p = await call.ConfigureAwait(false);
        return p.Error == Errno.OK ? p.Iatt : p.Error;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Errno> ErrnoOf(ValueTask<FopReply> call) => (await call.ConfigureAwait(false)).Error;

    private static async ValueTask<Result<long>> ValueOf(ValueTask<FopReply> call)
    {
        var p = await call.ConfigureAwait(false);
        return p.Error == Errno.OK ? p.Value : p.Error;
    }

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        var call = FdCallAsync(ctx, fd, new FopRequest(FopOp.Fsetattr) { Attr = attr });
        return IattOf((attr.Valid & SetAttrValid.Size) != 0 ? WrittenAsync(call, fd) : call); // a truncate changes data
    }

    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var conn = _conn;
        ctx.PostParent = null;
        var p = await CallAsync(ctx, new FopRequest(FopOp.Create) { Loc = L(loc), Flags = flags, Mode = mode, Umask = umask, NewGfid = gfid }).ConfigureAwait(false);
        return Created(ctx, conn, p, flags, gfid, fd);
    }

    /// <summary>
    /// create-inodelk-xattrop, sent only to a brick that granted it at the handshake: to any other (an older
    /// brick, or <c>lock-create-release off</c>) it is ENOSYS here, without a request, and the caller creates alone.
    /// </summary>
    public override async ValueTask<Result<LockedCreate>> CreateInodeLkXattropAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd,
                                                                                    string domain, FileLock lk, string name, ReadOnlyMemory<byte> deltas)
    {
        var conn = _conn;
        if (conn is null || _stopping != 0) return TransportErrors.ToErrno(TransportFailure.NotConnected);
        if ((conn.Features & Handshake.LockCreateReleaseFeature) == 0) return Errno.ENOSYS;
        ctx.PostParent = null;
        var q = new FopRequest(FopOp.CreateInodeLkXattrop)
        {
            Caller = WireCaller.From(ctx), Loc = L(loc), Flags = flags, Mode = mode, Umask = umask, NewGfid = gfid,
            Name = domain, Lock = lk, Name2 = name, Data = deltas,
        };
        var p = await CallOnAsync(conn, q, bounded: true, ctx.ContinueInline).ConfigureAwait(false);
        var r = Created(ctx, conn, p, flags, gfid, fd);
        return r.Ok ? new LockedCreate(r.Value, (Errno)p.Value) : r.Error;
    }

    /// <summary>What a create's reply made: the remote fd tracked on <paramref name="fd"/>, the parent's attributes handed up.</summary>
    private Result<Iatt> Created(FopContext ctx, ClientConnection? conn, in FopReply p, int flags, Gfid gfid, Fd fd)
    {
        if (p.Error != Errno.OK) return p.Error;
        ctx.PostParent = WireStructs.PostParent(p.Xdata);
        var ctxFd = new ClientFdCtx(this, p.Iatt.Gfid.IsZero ? gfid : p.Iatt.Gfid, flags, isDir: false) { Remote = new RemoteFd(conn?.Epoch ?? 0, p.Fd), Inode = fd.Inode };
        TrackFd(fd, ctxFd);
        return p.Iatt;
    }

    /// <summary>By hand only to hand the reply's parent attributes up (<see cref="FopContext.PostParent"/>).</summary>
    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        ctx.PostParent = null;
        var p = await CallAsync(ctx, new FopRequest(FopOp.Unlink) { Loc = L(loc) }).ConfigureAwait(false);
        if (p.Error == Errno.OK) ctx.PostParent = WireStructs.PostParent(p.Xdata);
        return p.Error;
    }

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd) => OpenCoreAsync(ctx, loc, flags, fd, FopOp.Open);

    public override ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd) => OpenCoreAsync(ctx, loc, fd.Flags, fd, FopOp.Opendir);

    private async ValueTask<Errno> OpenCoreAsync(FopContext ctx, Loc loc, int flags, Fd fd, FopOp op)
    {
        var conn = _conn;
        if (conn is null) return TransportErrors.ToErrno(TransportFailure.NotConnected);
        var gfid = loc.Gfid.IsZero ? fd.Inode.Gfid : loc.Gfid;
        var q = new FopRequest(op) { Caller = WireCaller.From(ctx), Loc = new WireLoc(gfid, loc.ParentGfid, loc.Name), Flags = flags };
        var p = await CallOnAsync(conn, q, bounded: true, ctx.ContinueInline).ConfigureAwait(false);
        if (p.Error != Errno.OK) return p.Error;
        TrackFd(fd, new ClientFdCtx(this, gfid, flags, op == FopOp.Opendir) { Remote = new RemoteFd(conn.Epoch, p.Fd), Inode = fd.Inode });
        return Errno.OK;
    }

    /// <summary>Reads of at least twice this are split into up to four pieces in flight at once.</summary>
    private const int ReadStripe = 256 << 10;

    /// <summary>
    /// A big read goes out as up to four concurrent pieces, so the brick's disk read of one piece
    /// overlaps the transfer of another (a 1 MiB read at queue depth 1 would otherwise pay each
    /// step in turn). The result is the contiguous prefix up to the first short or failed piece,
    /// as read(2) would return.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        var e = Resolve(fd, out var conn, out var id);
        if (e != Errno.OK) return e;
        int total = 0;
        while (total < buffer.Length)
        {
            int left = buffer.Length - total;
            int piece = left < 2 * ReadStripe ? Math.Min(left, FrameHeader.MaxIo) : Math.Min(FrameHeader.MaxIo, Math.Max(ReadStripe, (left + 3) / 4));
            int n0 = Math.Min(piece, left), n1 = Math.Min(piece, left - n0), n2 = Math.Min(piece, left - n0 - n1), n3 = Math.Min(piece, left - n0 - n1 - n2);
            long at = offset + total;
            var t0 = ReadChunkAsync(conn!, ctx, id, buffer.Slice(total, n0), at);
            var t1 = n1 > 0 ? ReadChunkAsync(conn!, ctx, id, buffer.Slice(total + n0, n1), at + n0) : default;
            var t2 = n2 > 0 ? ReadChunkAsync(conn!, ctx, id, buffer.Slice(total + n0 + n1, n2), at + n0 + n1) : default;
            var t3 = n3 > 0 ? ReadChunkAsync(conn!, ctx, id, buffer.Slice(total + n0 + n1 + n2, n3), at + n0 + n1 + n2) : default;
            // Every started piece is awaited, whatever the others did: each holds a pooled call.
            var r0 = await t0.ConfigureAwait(false);
            var r1 = n1 > 0 ? await t1.ConfigureAwait(false) : default;
            var r2 = n2 > 0 ? await t2.ConfigureAwait(false) : default;
            var r3 = n3 > 0 ? await t3.ConfigureAwait(false) : default;
            if (!Take(r0, n0, ref total, out var stop0)) return total > 0 ? total : r0;
            if (stop0 || n1 == 0) { if (stop0) break; continue; }
            if (!Take(r1, n1, ref total, out var stop1)) return total;
            if (stop1 || n2 == 0) { if (stop1) break; continue; }
            if (!Take(r2, n2, ref total, out var stop2)) return total;
            if (stop2 || n3 == 0) { if (stop2) break; continue; }
            if (!Take(r3, n3, ref total, out var stop3)) return total;
            if (stop3) break;
        }
        // The pieces' replies were taken on the receive thread, and a caller that may go on there (the FUSE bridge)
        // would copy the whole read out on it (a 1 MiB FUSE reply: the kernel's copy into its page cache), while the
        // next read's replies wait in the socket. From read-hand-off on, that copy goes to the thread pool: one wake
        // for a copy that takes far longer, and the receive thread goes back to the socket at once.
        if (ctx.ContinueInline && _readHandOff > 0 && total >= _readHandOff) await Task.Yield();
        return total;

        // Adds a piece to the prefix; false on error, stop when it was short (end of file).
        static bool Take(in Result<int> r, int wanted, ref int total, out bool stop)
        {
            stop = false;
            if (!r.Ok) return false;
            total += r.Value;
            stop = r.Value < wanted;
            return true;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        var e = Resolve(fd, out var conn, out var id);
        if (e != Errno.OK) return e;
        int total = 0;
        do
        {
            int n = Math.Min(data.Length - total, FrameHeader.MaxIo);
            var q = new FopRequest(FopOp.Writev) { Caller = WireCaller.From(ctx), Fd = id, Offset = offset + total, Data = data.Slice(total, n) };
            var p = await CallOnAsync(conn!, q, bounded: true, ctx.ContinueInline).ConfigureAwait(false);
            if (p.Error != Errno.OK) return total > 0 ? total : p.Error;
            if (total == 0) NoteWritten(fd);
            total += (int)p.Value;
            if (p.Value < n) break;
        } while (total < data.Length);
        return total;
    }

    /// <summary>
    /// A FLUSH only matters to the brick when this process may hold locks on the file (see
    /// <see cref="LockedFiles"/>); otherwise it is answered here, after the same fd checks, and a
    /// close costs no round trip.
    /// </summary>
    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) =>
        LockedFiles.MayHold(fd.Inode.Gfid) ? ErrnoOf(FdCallAsync(ctx, fd, new FopRequest(FopOp.Flush)))
                                           : new(Resolve(fd, out _, out _));

    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        var c = fd.GetCtx(this) as ClientFdCtx;
        return SyncedAsync(FdCallAsync(ctx, fd, new FopRequest(FopOp.Fsync) { DataOnly = dataOnly }), c, c?.WrittenMark ?? 0);
    }

    /// <summary>An fsync that succeeded covers every write acknowledged before it was sent.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Errno> SyncedAsync(ValueTask<FopReply> call, ClientFdCtx? c, long mark)
    {
        var e = (await call.ConfigureAwait(false)).Error;
        if (e == Errno.OK) c?.NoteSynced(mark);
        return e;
    }

    /// <summary>
    /// The brick acknowledged a change to the fd's data: until an fsync sent after this covers it,
    /// a brick that loses the session may lose it. Counted after the reply, never before: the brick
    /// runs one connection's requests concurrently, so only an fsync sent after the acknowledgement
    /// is known to come after the change.
    /// </summary>
    private void NoteWritten(Fd fd)
    {
        if (fd.GetCtx(this) is ClientFdCtx c) c.NoteWritten();
    }

    private async ValueTask<FopReply> WrittenAsync(ValueTask<FopReply> call, Fd fd)
    {
        var p = await call.ConfigureAwait(false);
        if (p.Error == Errno.OK) NoteWritten(fd);
        return p;
    }

    public override ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
    {
        var e = Resolve(fdIn, out var conn, out var idIn);
        ulong idOut = 0;
        if (e == Errno.OK) e = RemoteOf(fdOut, conn!, out idOut);
        if (e != Errno.OK) return new(new Result<long>(e));
        var q = new FopRequest(FopOp.CopyFileRange)
        {
            Caller = WireCaller.From(ctx), Fd = idIn, Offset = offIn, Fd2 = idOut, Offset2 = offOut, Length = length, Flags = (int)flags,
        };
        return ValueOf(WrittenAsync(CallOnAsync(conn!, q, bounded: true, ctx.ContinueInline), fdOut));
    }

    public override ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length) =>
        ErrnoOf(WrittenAsync(FdCallAsync(ctx, fd, new FopRequest(FopOp.Fallocate) { Flags = mode, Offset = offset, Length = length }), fd));

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        var p = await FdCallAsync(ctx, fd, new FopRequest(FopOp.Readdir) { Offset = offset, Size = (uint)Math.Max(0, maxEntries) }).ConfigureAwait(false);
        return p.Error == Errno.OK ? new Result<IReadOnlyList<DirEntry>>(p.Entries!) : p.Error;
    }

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        var p = await FdCallAsync(ctx, fd, new FopRequest(FopOp.Readdirp) { Offset = offset, Size = (uint)Math.Max(0, maxEntries) }).ConfigureAwait(false);
        return p.Error == Errno.OK ? new Result<IReadOnlyList<DirEntry>>(p.Entries!) : p.Error;
    }

    public override ValueTask ReleaseAsync(Fd fd) => ReleaseCoreAsync(fd, FopOp.Release);
    public override ValueTask ReleasedirAsync(Fd fd) => ReleaseCoreAsync(fd, FopOp.Releasedir);

    /// <summary>
    /// Forgets the fd here at once (so it is not reopened), and tells the brick when connected.
    /// A brick we cannot reach frees it anyway: its session ends after the grace period.
    /// </summary>
    private async ValueTask ReleaseCoreAsync(Fd fd, FopOp op)
    {
        if (Forget(fd) is not { } r) return;
        // The reply finishes the release on the receive thread when what follows never blocks (the FUSE bridge's close).
        await CallOnAsync(r.Conn, new FopRequest(op) { Caller = new WireCaller { Groups = [] }, Fd = r.Id }, bounded: true, fd.ReleaseInline).ConfigureAwait(false);
    }

    /// <summary>
    /// release-inodelk-xattrop, sent only to a brick that granted it at the handshake: to any other it is
    /// ENOSYS here and the fd stays open (the caller makes the calls apart), as when the brick answers ENOSYS
    /// (it has no features/locks). Any other answer releases the fd, as a release does: it is forgotten here.
    /// With no connection, or an fd of an earlier one, there is nothing to send (the brick's session and its
    /// locks end without us): the fd is forgotten and the answer is ENOTCONN.
    /// </summary>
    public override async ValueTask<Result<byte[]>> ReleaseInodeLkXattropAsync(FopContext ctx, Fd fd, string domain, LockType type, long start, long length,
                                                                                string name, ReadOnlyMemory<byte> deltas)
    {
        var conn = _conn;
        if (conn is not null && (conn.Features & Handshake.LockCreateReleaseFeature) == 0) return Errno.ENOSYS;
        if (conn is null || fd.GetCtx(this) is not ClientFdCtx { Remote: { } r } || r.Epoch != conn.Epoch)
        {
            Forget(fd);
            return TransportErrors.ToErrno(TransportFailure.NotConnected);
        }
        var q = new FopRequest(FopOp.ReleaseInodeLkXattrop)
        {
            Caller = WireCaller.From(ctx), Fd = r.Id, Name = domain, Flags2 = (int)type, Offset = start, Length = length, Name2 = name, Data = deltas,
        };
        var p = await CallOnAsync(conn, q, bounded: true, ctx.ContinueInline).ConfigureAwait(false);
        if (p.Error == Errno.ENOSYS) return Errno.ENOSYS;
        Forget(fd); // released on the brick (or its session and fds end with the connection that failed)
        return p.Error == Errno.OK ? p.Bytes! : p.Error;
    }

    /// <summary>Forgets the fd here (so it is not reopened); the connection and remote id to tell the brick on, if the fd is of the connection that is up.</summary>
    private (ClientConnection Conn, ulong Id)? Forget(Fd fd)
    {
        if (fd.GetCtx(this) is not ClientFdCtx ctx) return null;
        lock (_openFds) _openFds.Remove(ctx);
        fd.SetCtx(this, null);
        var conn = _conn;
        var r = ctx.Remote;
        ctx.Remote = null;
        if (conn is null || r is null || r.Epoch != conn.Epoch) return null;
        return (conn, r.Id);
    }
}
