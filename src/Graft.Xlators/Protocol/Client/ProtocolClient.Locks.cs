using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

// Locks over the wire: lk, and the re-binding of a mount's locks from an fd of an older graph's
// client to one of ours (DESIGN invariant 4).
public sealed partial class ProtocolClient
{
    /// <summary>
    /// GETLK, SETLK, SETLKW and RECLAIM. Every lock call but SETLKW is bounded by frame-timeout. A
    /// SETLKW may wait on another client for as long as it likes (frame-timeout would turn a
    /// legitimate wait into ENOTCONN), so only ping-timeout (liveness) bounds it, and its caller's
    /// cancellation (FUSE INTERRUPT) is sent to the brick, which takes the request off its queue.
    /// </summary>
    public override async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        var e = Resolve(fd, out var conn, out var id);
        if (e != Errno.OK) return e;
        if (cmd != LockCmd.GetLk) LockedFiles.Note(fd.Inode.Gfid);
        var q = new FopRequest(FopOp.Lk) { Caller = WireCaller.From(ctx), Fd = id, Flags = (int)cmd, Lock = lk };
        bool blocking = cmd == LockCmd.SetLkW;
        var p = await CallOnAsync(conn!, q, bounded: !blocking, ctx.ContinueInline, blocking ? ctx.Cancellation : default).ConfigureAwait(false);
        return p.Error == Errno.OK ? p.Lock : p.Error;
    }

    /// <summary>
    /// inodelk. A blocking request may wait on another client for as long as the brick's
    /// domain-lock-timeout allows (the brick answers EAGAIN then), so, as a SETLKW, it is not bounded
    /// by frame-timeout but by ping-timeout, and its caller's cancellation is sent to the brick.
    /// </summary>
    public override ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length) =>
        DomainLockCallAsync(ctx, new FopRequest(FopOp.InodeLk)
        {
            Loc = WireLoc.From(loc), Name = domain, Flags = (int)cmd, Flags2 = (int)type, Offset = start, Length = length,
        });

    /// <summary>entrylk, sent as inodelk is.</summary>
    public override ValueTask<Errno> EntryLkAsync(FopContext ctx, Loc parent, string domain, string? name, DomainLockCmd cmd, LockType type) =>
        DomainLockCallAsync(ctx, new FopRequest(FopOp.EntryLk)
        {
            Loc = WireLoc.From(parent), Name = domain, Name2 = name, Flags = (int)cmd, Flags2 = (int)type,
        });

    /// <summary>
    /// inodelk-xattrop, sent as inodelk is, only to a brick that granted it at the handshake: to any
    /// other (an older brick, or <c>lock-xattrop off</c>) it is ENOSYS here, without a request, and
    /// the caller makes the two calls.
    /// </summary>
    public override async ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                        string? name, ReadOnlyMemory<byte> deltas)
    {
        var conn = _conn;
        if (conn is null || _stopping != 0) return TransportErrors.ToErrno(TransportFailure.NotConnected);
        if ((conn.Features & Handshake.LockXattropFeature) == 0) return Errno.ENOSYS;
        var q = new FopRequest(FopOp.InodeLkXattrop)
        {
            Caller = WireCaller.From(ctx), Loc = WireLoc.From(loc), Name = domain, Flags = (int)cmd, Flags2 = (int)type, Offset = start, Length = length,
            Name2 = name, Data = deltas,
        };
        bool blocking = cmd == DomainLockCmd.LockBlocking;
        var p = await CallOnAsync(conn, q, bounded: !blocking, ctx.ContinueInline, blocking ? ctx.Cancellation : default).ConfigureAwait(false);
        return p.Error == Errno.OK ? p.Bytes! : p.Error;
    }

    private async ValueTask<Errno> DomainLockCallAsync(FopContext ctx, FopRequest q)
    {
        var conn = _conn;
        if (conn is null || _stopping != 0) return TransportErrors.ToErrno(TransportFailure.NotConnected);
        q.Caller = WireCaller.From(ctx);
        bool blocking = q.Flags == (int)DomainLockCmd.LockBlocking;
        var p = await CallOnAsync(conn, q, bounded: !blocking, ctx.ContinueInline, blocking ? ctx.Cancellation : default).ConfigureAwait(false);
        return p.Error;
    }

    /// <summary>
    /// Moves the brick's locks (held and waiting) from <paramref name="from"/>, an fd another
    /// protocol/client instance of this mount opened on the same brick (an older graph), to
    /// <paramref name="to"/>, ours, in one request on our connection: the brick finds the other
    /// session by its instance id and moves them under the file's lock, so nothing is released in
    /// between. EINVAL: <paramref name="from"/> was not opened through a client of this brick.
    /// ENOTCONN: either fd has no valid remote id on a live connection now (reconnecting): try again.
    /// </summary>
    public override async ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to)
    {
        if (to.GetCtx(this) is not ClientFdCtx mine || mine.Client != this) return Errno.EBADF;
        if (from.FindCtx<ClientFdCtx>(c => c.Client.SameBrickAs(this)) is not { } theirs) return Errno.EINVAL;
        var conn = _conn;
        if (conn is null || conn.IsDead || _stopping != 0 || mine.Remote is not { } r || r.Epoch != conn.Epoch) return Errno.ENOTCONN;
        if (theirs.Client.RemoteOnLiveConnection(theirs) is not { } old) return Errno.ENOTCONN;
        LockedFiles.Note(to.Inode.Gfid);
        var q = new FopRequest(FopOp.RebindLocks) { Caller = WireCaller.From(ctx), Fd = r.Id, Instance = theirs.Client._instance, Fd2 = old };
        var p = await CallOnAsync(conn, q, bounded: true, ctx.ContinueInline).ConfigureAwait(false);
        return p.Error == Errno.OK ? (int)p.Value : p.Error;
    }

    /// <summary>
    /// Same brick: same brick name and port, and the same server — by the name in the volfile, or by
    /// the address both connected to (a volfile that says 127.0.0.1 where the old one said localhost
    /// names the same brick). Only a pre-filter: the brick itself refuses (EBADF) a rebind naming a
    /// session it does not have.
    /// </summary>
    private bool SameBrickAs(ProtocolClient other) =>
        _port == other._port && _brick == other._brick &&
        (string.Equals(_host, other._host, StringComparison.OrdinalIgnoreCase) ||
         (_connectedTo is { } a && other._connectedTo is { } b && a.Equals(b)));

    /// <summary>The remote fd id of <paramref name="ctx"/> if it is valid on this client's live connection now.</summary>
    private ulong? RemoteOnLiveConnection(ClientFdCtx ctx)
    {
        var conn = _conn;
        if (conn is null || conn.IsDead || ctx.Remote is not { } r || r.Epoch != conn.Epoch) return null;
        return r.Id;
    }
}
