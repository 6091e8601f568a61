using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// Serving one request: remote fd ids become this client's Fd objects, GFIDs become this graph's
// inodes where the table knows them, and what a fop creates or finds is remembered in the table.
public sealed partial class ProtocolServer
{
    /// <summary>readdir replies stay well under a frame: at most this many entries per call.</summary>
    private const int MaxDirEntries = 1024;

    private InodeTable Table => Graph!.Inodes;

    private Loc ToLoc(in WireLoc w) => new(w.Gfid, w.ParentGfid, w.Name,
        w.Gfid.IsZero ? null : Table.Find(w.Gfid), w.ParentGfid.IsZero ? null : Table.Find(w.ParentGfid));

    /// <summary>Records what a fop found or made, so later fops by GFID find the inode.</summary>
    private void Remember(in WireLoc loc, in Iatt iatt)
    {
        if (iatt.Gfid.IsZero || Graph is null) return;
        var named = loc.Name is not null && !loc.ParentGfid.IsZero;
        var i = Table.Link(named ? loc.ParentGfid : default, named ? loc.Name : null, iatt);
        Table.Unref(i);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<FopReply> DispatchAsync(ClientSession s, ServerCall call)
    {
        var q = call.Request;
        call.SetCaller(Graph, s);
        var ctx = call.Ctx;
        var c = Child;
        switch (q.Op)
        {
            // ---- path fops ----
            case FopOp.Lookup:
            {
                var r = await c.LookupAsync(ctx, ToLoc(q.Loc), q.Xdata).ConfigureAwait(false);
                if (r.Ok) Remember(q.Loc, r.Value);
                return IattReply(r);
            }
            case FopOp.Stat: return IattReply(await c.StatAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false));
            case FopOp.Setattr: return IattReply(await c.SetattrAsync(ctx, ToLoc(q.Loc), q.Attr).ConfigureAwait(false));
            case FopOp.Access: return new FopReply(await c.AccessAsync(ctx, ToLoc(q.Loc), q.Flags).ConfigureAwait(false));
            case FopOp.Readlink:
            {
                var r = await c.ReadlinkAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false);
                return r.Ok ? new FopReply { Text = r.Value } : new FopReply(r.Error);
            }
            case FopOp.Mknod: return Made(q.Loc, await c.MknodAsync(ctx, ToLoc(q.Loc), q.Mode, q.Rdev, q.Umask, q.NewGfid).ConfigureAwait(false));
            case FopOp.Mkdir: return Made(q.Loc, await c.MkdirAsync(ctx, ToLoc(q.Loc), q.Mode, q.Umask, q.NewGfid).ConfigureAwait(false));
            case FopOp.Symlink: return Made(q.Loc, await c.SymlinkAsync(ctx, q.Name!, ToLoc(q.Loc), q.Umask, q.NewGfid).ConfigureAwait(false));
            case FopOp.Link: return Made(q.Loc2, await c.LinkAsync(ctx, ToLoc(q.Loc), ToLoc(q.Loc2)).ConfigureAwait(false));
            case FopOp.Unlink:
            case FopOp.Rmdir:
            {
                var e = q.Op == FopOp.Unlink ? await c.UnlinkAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false)
                                             : await c.RmdirAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false);
                if (e == Errno.OK && q.Loc.Name is { } n) Table.Unlink(q.Loc.ParentGfid, n);
                return new FopReply(e);
            }
            case FopOp.Rename:
            {
                var r = await c.RenameAsync(ctx, ToLoc(q.Loc), ToLoc(q.Loc2), (RenameFlags)q.Flags).ConfigureAwait(false);
                if (r.Ok && q.Loc.Name is { } a && q.Loc2.Name is { } b)
                {
                    if (((RenameFlags)q.Flags & RenameFlags.Exchange) != 0) Table.Exchange(q.Loc.ParentGfid, a, q.Loc2.ParentGfid, b);
                    else Table.Rename(q.Loc.ParentGfid, a, q.Loc2.ParentGfid, b);
                }
                return IattReply(r);
            }
            case FopOp.Statfs:
            {
                var r = await c.StatfsAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false);
                return r.Ok ? new FopReply { Vfs = r.Value } : new FopReply(r.Error);
            }
            case FopOp.Setxattr: return new FopReply(await c.SetxattrAsync(ctx, ToLoc(q.Loc), q.Name!, q.Data, q.Flags).ConfigureAwait(false));
            case FopOp.Getxattr:
            {
                var r = await c.GetxattrAsync(ctx, ToLoc(q.Loc), q.Name!).ConfigureAwait(false);
                return r.Ok ? new FopReply { Bytes = r.Value } : new FopReply(r.Error);
            }
            case FopOp.Listxattr:
            {
                var r = await c.ListxattrAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false);
                return r.Ok ? new FopReply { Names = r.Value } : new FopReply(r.Error);
            }
            case FopOp.Removexattr: return new FopReply(await c.RemovexattrAsync(ctx, ToLoc(q.Loc), q.Name!).ConfigureAwait(false));

            // ---- opening ----
            case FopOp.Create: return await CreateAsync(s, ctx, q).ConfigureAwait(false);
            case FopOp.Open:
            case FopOp.Opendir: return await OpenAsync(s, ctx, q).ConfigureAwait(false);
            case FopOp.Release:
            case FopOp.Releasedir:
            {
                if (s.Remove(q.Fd) is not { } fd) return new FopReply(Errno.EBADF);
                await ReleaseFdAsync(fd).ConfigureAwait(false);
                return new FopReply(Errno.OK);
            }
            case FopOp.RebindLocks: return await RebindAsync(s, ctx, q).ConfigureAwait(false);
        }

        // ---- fd fops ----
        if (s.Get(q.Fd) is not { } f) return new FopReply(Errno.EBADF);
        Fd? f2 = null;
        try
        {
            switch (q.Op)
            {
                case FopOp.Fstat: return IattReply(await c.FstatAsync(ctx, f).ConfigureAwait(false));
                case FopOp.Fsetattr: return IattReply(await c.FsetattrAsync(ctx, f, q.Attr).ConfigureAwait(false));
                case FopOp.Readv:
                {
                    var buf = call.ReadBuffer((int)q.Size);
                    var r = await c.ReadvAsync(ctx, f, buf, q.Offset).ConfigureAwait(false);
                    if (!r.Ok) return new FopReply(r.Error);
                    return new FopReply { Data = buf[..Math.Clamp(r.Value, 0, buf.Length)] };
                }
                case FopOp.Writev: return ValueReply(await c.WritevAsync(ctx, f, q.Data, q.Offset).ConfigureAwait(false));
                case FopOp.Flush: return new FopReply(await c.FlushAsync(ctx, f).ConfigureAwait(false));
                case FopOp.Fsync: return new FopReply(await c.FsyncAsync(ctx, f, q.DataOnly).ConfigureAwait(false));
                case FopOp.Fsyncdir: return new FopReply(await c.FsyncdirAsync(ctx, f, q.DataOnly).ConfigureAwait(false));
                case FopOp.CopyFileRange:
                {
                    if ((f2 = s.Get(q.Fd2)) is null) return new FopReply(Errno.EBADF);
                    var r = await c.CopyFileRangeAsync(ctx, f, q.Offset, f2, q.Offset2, q.Length, (uint)q.Flags).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Value = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Fallocate: return new FopReply(await c.FallocateAsync(ctx, f, q.Flags, q.Offset, q.Length).ConfigureAwait(false));
                case FopOp.Lseek:
                {
                    var r = await c.LseekAsync(ctx, f, q.Offset, q.Flags).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Value = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Lk:
                {
                    var r = await c.LkAsync(ctx, f, (LockCmd)q.Flags, q.Lock).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Lock = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Readdir:
                case FopOp.Readdirp:
                {
                    int max = (int)Math.Min(q.Size, MaxDirEntries);
                    var r = q.Op == FopOp.Readdir ? await c.ReaddirAsync(ctx, f, q.Offset, max).ConfigureAwait(false)
                                                  : await c.ReaddirpAsync(ctx, f, q.Offset, max).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Entries = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Fsetxattr: return new FopReply(await c.FsetxattrAsync(ctx, f, q.Name!, q.Data, q.Flags).ConfigureAwait(false));
                case FopOp.Fgetxattr:
                {
                    var r = await c.FgetxattrAsync(ctx, f, q.Name!).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Bytes = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Flistxattr:
                {
                    var r = await c.FlistxattrAsync(ctx, f).ConfigureAwait(false);
                    return r.Ok ? new FopReply { Names = r.Value } : new FopReply(r.Error);
                }
                case FopOp.Fremovexattr: return new FopReply(await c.FremovexattrAsync(ctx, f, q.Name!).ConfigureAwait(false));
                default: return new FopReply(Errno.ENOSYS);
            }
        }
        finally
        {
            await ReleaseFdAsync(f).ConfigureAwait(false);
            if (f2 is not null) await ReleaseFdAsync(f2).ConfigureAwait(false);
        }
    }

    private static FopReply IattReply(in Result<Iatt> r) => r.Ok ? new FopReply { Iatt = r.Value } : new FopReply(r.Error);
    private static FopReply ValueReply(in Result<int> r) => r.Ok ? new FopReply { Value = r.Value } : new FopReply(r.Error);

    private FopReply Made(in WireLoc loc, in Result<Iatt> r)
    {
        if (r.Ok) Remember(loc, r.Value);
        return IattReply(r);
    }

    /// <summary>This graph's inode for <paramref name="gfid"/>, with a ref for the caller; a nameless lookup when the table has none.</summary>
    private async ValueTask<Result<Inode>> InodeOfAsync(FopContext ctx, Gfid gfid)
    {
        if (gfid.IsZero) return Errno.EINVAL;
        if (Table.Find(gfid) is { } known)
        {
            // Between Find and Ref the LRU may purge it; then it is looked up like an unknown one.
            try { Table.Ref(known); return known; }
            catch (InvalidOperationException) { }
        }
        var r = await Child.LookupAsync(ctx, Loc.Nameless(gfid)).ConfigureAwait(false);
        if (!r.Ok) return r.Error;
        return Table.Link(default, null, r.Value);
    }

    private async ValueTask<FopReply> OpenAsync(ClientSession s, FopContext ctx, FopRequest q)
    {
        if (s.FdCount >= MaxOpenFdsPerSession) return FdLimitReached(s);
        var ir = await InodeOfAsync(ctx, q.Loc.Gfid).ConfigureAwait(false);
        if (!ir.Ok) return new FopReply(ir.Error);
        var inode = ir.Value;
        var fd = new Fd(inode, q.Flags, ctx.Pid, ctx.LockOwner);
        Table.Unref(inode);   // the fd holds its own
        var loc = new Loc(inode.Gfid, q.Loc.ParentGfid, q.Loc.Name, inode, q.Loc.ParentGfid.IsZero ? null : Table.Find(q.Loc.ParentGfid));
        var e = q.Op == FopOp.Opendir ? await Child.OpendirAsync(ctx, loc, fd).ConfigureAwait(false)
                                      : await Child.OpenAsync(ctx, loc, q.Flags, fd).ConfigureAwait(false);
        if (e != Errno.OK) { fd.Unref(); return new FopReply(e); }
        return await Register(s, fd, new FopReply()).ConfigureAwait(false);
    }

    private async ValueTask<FopReply> CreateAsync(ClientSession s, FopContext ctx, FopRequest q)
    {
        if (q.NewGfid.IsZero || q.Loc.Name is null) return new FopReply(Errno.EINVAL);
        if (s.FdCount >= MaxOpenFdsPerSession) return FdLimitReached(s);
        // The client chose the GFID, so the inode exists here before the file does (as the fop contract says).
        var inode = Table.Link(default, null, new Iatt { Gfid = q.NewGfid, Mode = PosixMode.S_IFREG | (q.Mode & PosixMode.PermMask) });
        var fd = new Fd(inode, q.Flags, ctx.Pid, ctx.LockOwner);
        Table.Unref(inode);
        var r = await Child.CreateAsync(ctx, ToLoc(q.Loc), q.Flags, q.Mode, q.Umask, q.NewGfid, fd).ConfigureAwait(false);
        if (!r.Ok) { fd.Unref(); return new FopReply(r.Error); }
        Remember(q.Loc, r.Value);
        return await Register(s, fd, new FopReply { Iatt = r.Value }).ConfigureAwait(false);
    }

    /// <summary>
    /// Puts a freshly opened fd in the session's table. A session that ended while the open was in
    /// flight (its client went away) gets nothing: the fd is released here instead of leaking. So
    /// does one that reached max-open-fds-per-session meanwhile (opens racing past the check made
    /// before opening): EMFILE.
    /// </summary>
    private async ValueTask<FopReply> Register(ClientSession s, Fd fd, FopReply reply)
    {
        var id = s.AddWithin(fd, MaxOpenFdsPerSession, out var full);
        if (id != 0) { reply.Fd = id; return reply; }
        await ReleaseFdAsync(fd).ConfigureAwait(false);
        return full ? FdLimitReached(s) : new FopReply(Errno.ENOTCONN);
    }
}
