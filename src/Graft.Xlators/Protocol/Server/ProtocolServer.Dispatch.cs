using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// Serving one request: remote fd ids become this client's Fd objects, GFIDs become this graph's
// inodes where the table knows them, and what a fop creates or finds is remembered in the table.
[GeneratesFopServer]
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

    /// <summary>
    /// Serves one request. The dispatch (ServeAsync) is generated from the fop list
    /// ([GeneratesFopServer]): a fop whose arguments and answer map one to one onto its wire layout
    /// is served there; the Serve methods below are the fops that do more (remember or forget
    /// names in the table, open fds, fill the read buffer, a second fd).
    /// </summary>
    internal ValueTask<FopReply> DispatchAsync(ClientSession s, ServerCall call)
    {
        call.SetCaller(Graph, s);
        return ServeAsync(s, call, call.Ctx);
    }

    // ---- path fops ----

    private async ValueTask<FopReply> ServeLookup(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        var r = await Child.LookupAsync(ctx, ToLoc(q.Loc), q.Xdata).ConfigureAwait(false);
        if (r.Ok) Remember(q.Loc, r.Value);
        return IattReply(r);
    }

    private async ValueTask<FopReply> ServeMknod(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        return Made(q.Loc, await Child.MknodAsync(ctx, ToLoc(q.Loc), q.Mode, q.Rdev, q.Umask, q.NewGfid).ConfigureAwait(false));
    }

    private async ValueTask<FopReply> ServeMkdir(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        return Made(q.Loc, await Child.MkdirAsync(ctx, ToLoc(q.Loc), q.Mode, q.Umask, q.NewGfid).ConfigureAwait(false));
    }

    private async ValueTask<FopReply> ServeSymlink(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        return Made(q.Loc, await Child.SymlinkAsync(ctx, q.Name!, ToLoc(q.Loc), q.Umask, q.NewGfid).ConfigureAwait(false));
    }

    private async ValueTask<FopReply> ServeLink(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        return Made(q.Loc2, await Child.LinkAsync(ctx, ToLoc(q.Loc), ToLoc(q.Loc2)).ConfigureAwait(false));
    }

    private async ValueTask<FopReply> ServeUnlink(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        ctx.PostParent = null;
        var reply = Unlinked(q.Loc, await Child.UnlinkAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false));
        if (reply.Error == Errno.OK) reply.Xdata = WireStructs.PostParentXdata(ctx.PostParent);
        return reply;
    }

    private async ValueTask<FopReply> ServeRmdir(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        return Unlinked(q.Loc, await Child.RmdirAsync(ctx, ToLoc(q.Loc)).ConfigureAwait(false));
    }

    private FopReply Unlinked(in WireLoc loc, Errno e)
    {
        if (e == Errno.OK && loc.Name is { } n) Table.Unlink(loc.ParentGfid, n);
        return new FopReply(e);
    }

    private async ValueTask<FopReply> ServeRename(ClientSession s, ServerCall call, FopContext ctx)
    {
        var q = call.Request;
        var r = await Child.RenameAsync(ctx, ToLoc(q.Loc), ToLoc(q.Loc2), (RenameFlags)q.Flags).ConfigureAwait(false);
        if (r.Ok && q.Loc.Name is { } a && q.Loc2.Name is { } b)
        {
            if (((RenameFlags)q.Flags & RenameFlags.Exchange) != 0) Table.Exchange(q.Loc.ParentGfid, a, q.Loc2.ParentGfid, b);
            else Table.Rename(q.Loc.ParentGfid, a, q.Loc2.ParentGfid, b);
        }
        return IattReply(r);
    }

    // ---- opening and releasing ----

    private ValueTask<FopReply> ServeCreate(ClientSession s, ServerCall call, FopContext ctx) => CreateAsync(s, ctx, call.Request);
    private ValueTask<FopReply> ServeCreateInodeLkXattrop(ClientSession s, ServerCall call, FopContext ctx) => CreateAsync(s, ctx, call.Request);
    private ValueTask<FopReply> ServeOpen(ClientSession s, ServerCall call, FopContext ctx) => OpenAsync(s, ctx, call.Request);
    private ValueTask<FopReply> ServeOpendir(ClientSession s, ServerCall call, FopContext ctx) => OpenAsync(s, ctx, call.Request);
    private ValueTask<FopReply> ServeRelease(ClientSession s, ServerCall call, FopContext ctx) => ReleaseRemoteAsync(s, call.Request.Fd);
    private ValueTask<FopReply> ServeReleasedir(ClientSession s, ServerCall call, FopContext ctx) => ReleaseRemoteAsync(s, call.Request.Fd);

    private async ValueTask<FopReply> ReleaseRemoteAsync(ClientSession s, ulong id)
    {
        if (s.Remove(id) is not { } fd) return new FopReply(Errno.EBADF);
        await ReleaseFdAsync(fd).ConfigureAwait(false);
        return new FopReply(Errno.OK);
    }

    /// <summary>
    /// release-inodelk-xattrop: the post-op and unlock (inodelk-xattrop UNLOCK on the fd's object), then the
    /// release. Made here of the two because an fd of the table is reference counted: its release goes down
    /// only when the last fop using it is done, while the unlock must not wait for that. ENOSYS from below (no
    /// features/locks) leaves the fd open, as the fop promises.
    /// </summary>
    private async ValueTask<FopReply> ServeReleaseInodeLkXattrop(ClientSession s, ServerCall call, FopContext ctx, Fd fd)
    {
        var q = call.Request;
        // Through the fd the brick holds: the post-op does not look the object up again by its handle.
        var r = await Child.FinodeLkXattropAsync(ctx, fd, q.Name!, DomainLockCmd.Unlock, (LockType)q.Flags2, q.Offset, q.Length, q.Name2, q.Data).ConfigureAwait(false);
        if (r.Error == Errno.ENOSYS) return new FopReply(Errno.ENOSYS);
        // The table's reference; the dispatch drops the one it took for this call, and the last sends release down.
        if (s.Remove(q.Fd) is { } held) await ReleaseFdAsync(held).ConfigureAwait(false);
        return r.Ok ? new FopReply { Bytes = r.Value } : new FopReply(r.Error);
    }

    // ---- fd fops: the generated dispatch resolved the fd and releases it afterwards ----

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FopReply> ServeReadv(ClientSession s, ServerCall call, FopContext ctx, Fd fd)
    {
        var buf = call.ReadBuffer((int)call.Request.Size);
        if (OffersRange(s, call)) ctx.ReadSink = call;
        var r = await Child.ReadvAsync(ctx, fd, buf, call.Request.Offset).ConfigureAwait(false);
        ctx.ReadSink = null;
        if (!r.Ok) { call.DropSpliced(); return new FopReply(r.Error); }
        int n = Math.Clamp(r.Value, 0, buf.Length);
        if (call.Spliced is { } pipe)
        {
            if (pipe.Held == n) CountSpliced(n);
            else if (pipe.Held > buf.Length || !pipe.DrainInto(buf.Span)) { call.DropSpliced(); return new FopReply(Errno.EIO); }
            else call.DropSpliced();   // a layer between answered another count than was taken: the bytes go the usual way
        }
        return new FopReply { Data = buf[..n] };
    }

    /// <summary>
    /// read-splice: a read of at least that many bytes, through a buffered fd on a connection that can splice, is
    /// offered to the layers below as a file range (<see cref="IReadRangeSink"/>); its reply's bulk then goes from
    /// the page cache to the socket (ServerConnection.ServeAsync). O_DIRECT reads keep their own path.
    /// </summary>
    private bool OffersRange(ClientSession s, ServerCall call)
    {
        long min = ReadSplice;
        if (min <= 0 || call.Request.Size < min || call.Connection?.Transport is not { CanSplice: true }) return false;
        if (s.FlagsOf(call.Request.Fd) is not int flags || (flags & OpenFlags.O_DIRECT) != 0) return false;
        call.SpliceVia = Pipes;
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FopReply> ServeWritev(ClientSession s, ServerCall call, FopContext ctx, Fd fd)
    {
        // write-splice: the data is in a pipe the receive thread filled. Offered to storage/posix to splice into the file
        // when nothing between looks at a write's bytes; otherwise brought into the body first.
        var data = call.Request.Data;
        if (call.WriteSpliced)
        {
            if (WritesPassUnchanged) ctx.WriteSource = call;
            else if (!call.TryFill(out data)) return new FopReply(Errno.EIO);
        }
        var r = await Child.WritevAsync(ctx, fd, data, call.Request.Offset).ConfigureAwait(false);
        ctx.WriteSource = null;
        if (call.SplicedIntoFile && r.Ok) CountWriteSpliced(r.Value);
        return ValueReply(r);
    }

    /// <summary>
    /// Types of the translators that pass a write on to storage/posix with its context and bytes unchanged (or fail or
    /// delay it): only under these may a write's data stay in its pipe until posix splices it into the file.
    /// </summary>
    private static readonly HashSet<string> PassWritesUnchanged = new(StringComparer.Ordinal)
    {
        "storage/posix", "features/locks", "features/upcall", "features/index", "debug/faults", "debug/passthrough",
    };

    /// <summary>Every translator under this server is one of <see cref="PassWritesUnchanged"/> (set at init).</summary>
    private bool WritesPassUnchanged { get; set; }

    private static bool AllPassWritesUnchanged(Translator t) =>
        PassWritesUnchanged.Contains(t.Type) && t.Children.All(AllPassWritesUnchanged);

    private async ValueTask<FopReply> ServeCopyFileRange(ClientSession s, ServerCall call, FopContext ctx, Fd fd)
    {
        var q = call.Request;
        if (s.Get(q.Fd2) is not { } fd2) return new FopReply(Errno.EBADF);
        try
        {
            var r = await Child.CopyFileRangeAsync(ctx, fd, q.Offset, fd2, q.Offset2, q.Length, (uint)q.Flags).ConfigureAwait(false);
            return r.Ok ? new FopReply { Value = r.Value } : new FopReply(r.Error);
        }
        finally
        {
            await ReleaseFdAsync(fd2).ConfigureAwait(false);
        }
    }

    private async ValueTask<FopReply> ServeReaddir(ClientSession s, ServerCall call, FopContext ctx, Fd fd) =>
        EntriesReply(await Child.ReaddirAsync(ctx, fd, call.Request.Offset, (int)Math.Min(call.Request.Size, MaxDirEntries)).ConfigureAwait(false));

    private async ValueTask<FopReply> ServeReaddirp(ClientSession s, ServerCall call, FopContext ctx, Fd fd) =>
        EntriesReply(await Child.ReaddirpAsync(ctx, fd, call.Request.Offset, (int)Math.Min(call.Request.Size, MaxDirEntries)).ConfigureAwait(false));

    private static FopReply EntriesReply(in Result<IReadOnlyList<DirEntry>> r) => r.Ok ? new FopReply { Entries = r.Value } : new FopReply(r.Error);

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
        ctx.PostParent = null;
        Result<Iatt> r;
        Errno locked = Errno.OK;
        if (q.Op == FopOp.CreateInodeLkXattrop)
        {
            var c = await Child.CreateInodeLkXattropAsync(ctx, ToLoc(q.Loc), q.Flags, q.Mode, q.Umask, q.NewGfid, fd, q.Name!, q.Lock, q.Name2!, q.Data).ConfigureAwait(false);
            if (c.Ok) (r, locked) = (c.Value.Iatt, c.Value.Lock);
            else r = c.Error;
        }
        else r = await Child.CreateAsync(ctx, ToLoc(q.Loc), q.Flags, q.Mode, q.Umask, q.NewGfid, fd).ConfigureAwait(false);
        if (!r.Ok) { fd.Unref(); return new FopReply(r.Error); }
        Remember(q.Loc, r.Value);
        var reply = await Register(s, fd, new FopReply { Iatt = r.Value, Value = (long)locked, Xdata = WireStructs.PostParentXdata(ctx.PostParent) }).ConfigureAwait(false);
        if (reply.Error != Errno.OK && q.Op == FopOp.CreateInodeLkXattrop && locked == Errno.OK)
        {
            // The client hears of no fd and so of no lock: give the lock back (the add stays, which only marks the file for a heal to look at).
            ctx.LockOwner = q.Lock.Owner;
            await Child.InodeLkAsync(ctx, Loc.Nameless(q.NewGfid), q.Name!, DomainLockCmd.Unlock, q.Lock.Type, q.Lock.Start, q.Lock.Length).ConfigureAwait(false);
        }
        return reply;
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
