using System.Diagnostics;
using Graft.Core;

namespace Graft.Mount;

// Fops on open files. Read, write and fgetattr are the hot path: on a hit they take no lock
// and allocate nothing (the awaits complete synchronously when the graph does).
public sealed partial class MountSession
{
    /// <summary>CREATE: makes and opens <paramref name="name"/>; the node gains one lookup and a file is registered.</summary>
    public async ValueTask<Result<CreatedFile>> CreateAsync(FopContext ctx, MountNode parent, string name, int flags, uint mode, uint umask)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var p = await ResolveAsync(ctx, parent, g).ConfigureAwait(false);
            if (!p.Ok) return p.Error;
            var gfid = _newGfids.Next();
            // The fd's inode is made for the GFID we chose before the fop, and never swapped
            // afterwards (DESIGN invariant 1; GlusterFS's fuse_create_cbk swap caused the 2012 hang).
            var seed = new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG | (mode & PosixMode.PermMask) };
            var inode = g.Inodes.Link(default, null, seed);
            var fd = new Fd(inode, flags, ctx.Pid, ctx.LockOwner) { ReleaseInline = ctx.ContinueInline };
            g.Inodes.Unref(inode); // the fd holds its own reference
            var r = await g.Top.CreateAsync(ctx, Loc.Child(p.Value, name), flags, mode, umask, gfid, fd).ConfigureAwait(false);
            if (!r.Ok || r.Value.Gfid != gfid)
            {
                await PutFdAsync(fd).ConfigureAwait(false);
                // ESTALE without O_EXCL: the name holds another object, which a brick will not open
                // under the GFID we sent. Look it up and open that.
                if (r.Error == Errno.ESTALE && (flags & OpenFlags.O_EXCL) == 0)
                {
                    r = await g.Top.LookupAsync(ctx, Loc.Child(p.Value, name)).ConfigureAwait(false);
                    if (r.Ok && r.Value.IsDir) return Errno.EISDIR;
                }
                if (!r.Ok) return r.Error;
                if (r.Value.Gfid.IsZero) return NoGfid(g, r.Value);
                // The name existed (no O_EXCL) and the brick opened that object: open it properly
                // rather than keep an fd whose inode names the wrong GFID.
                var existing = LinkNode(g, parent.Gfid, name, r.Value);
                var opened = await OpenOnAsync(ctx, g, existing, existing.Inode, flags & ~(OpenFlags.O_CREAT | OpenFlags.O_EXCL)).ConfigureAwait(false);
                if (!opened.Ok) { Forget(existing, 1); return opened.Error; }
                return new CreatedFile(existing, r.Value, opened.Value, New: false);
            }
            var node = LinkNode(g, parent.Gfid, name, r.Value);
            return new CreatedFile(node, r.Value, Register(node, flags, ctx.LockOwner, fd, isDirectory: false));
        }
        finally { lease.Dispose(); Timed(MountFop.Create, t0); }
    }

    /// <summary>OPEN: opens the node with <paramref name="flags"/> (O_TRUNC and O_APPEND are the brick's to apply).</summary>
    public async ValueTask<Result<MountFile>> OpenAsync(FopContext ctx, MountNode node, int flags)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            if (i.Value.IsDir && (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY) return Errno.EISDIR;
            return await OpenOnAsync(ctx, g, node, i.Value, flags).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Open, t0); }
    }

    private async ValueTask<Result<MountFile>> OpenOnAsync(FopContext ctx, Graph g, MountNode node, Inode inode, int flags)
    {
        var fd = new Fd(inode, flags, ctx.Pid, ctx.LockOwner) { ReleaseInline = ctx.ContinueInline };
        var e = await g.Top.OpenAsync(ctx, Loc.Of(inode), flags, fd).ConfigureAwait(false);
        if (e != Errno.OK) { await PutFdAsync(fd).ConfigureAwait(false); return e; }
        return Register(node, flags, ctx.LockOwner, fd, isDirectory: false);
    }

    private MountFile Register(MountNode node, int flags, ulong lockOwner, Fd fd, bool isDirectory)
    {
        var g = fd.Graph!;
        var file = new MountFile(node, flags, lockOwner, fd, isDirectory) { HintGraph = g };
        _files.Add(file);
        // After the add: if the graph has started retiring meanwhile, its sweep must find the file.
        _graphs.AddHint(g, file);
        Interlocked.Increment(ref _counters.FilesOpened);
        return file;
    }

    /// <summary>READ into <paramref name="buffer"/> at <paramref name="offset"/>; returns the bytes read.</summary>
    public async ValueTask<Result<int>> ReadAsync(FopContext ctx, MountFile file, Memory<byte> buffer, long offset)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.ReadvAsync(ctx, f.Value, buffer, offset).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Read, t0); }
    }

    /// <summary>WRITE <paramref name="data"/> at <paramref name="offset"/> (the end, for O_APPEND files); returns the bytes written.</summary>
    public async ValueTask<Result<int>> WriteAsync(FopContext ctx, MountFile file, ReadOnlyMemory<byte> data, long offset)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.WritevAsync(ctx, f.Value, data, offset).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Write, t0); }
    }

    /// <summary>GETATTR on an open file (fstat).</summary>
    public async ValueTask<Result<Iatt>> GetattrAsync(FopContext ctx, MountFile file)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.FstatAsync(ctx, f.Value).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Getattr, t0); }
    }

    /// <summary>SETATTR on an open file (fsetattr; ftruncate is a size change).</summary>
    public async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, MountFile file, SetAttr attr)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.FsetattrAsync(ctx, f.Value, attr).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Setattr, t0); }
    }

    /// <summary>FLUSH: what close(2) sends; releases the caller's (ctx.LockOwner) POSIX locks on the file.</summary>
    public async ValueTask<Errno> FlushAsync(FopContext ctx, MountFile file)
    {
        if (file.Failure != Errno.OK) return await FlushFailedAsync(ctx, file).ConfigureAwait(false);
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            Errno e, lost;
            try
            {
                e = await g.Top.FlushAsync(ctx, f.Value).ConfigureAwait(false);
                // After the flush: it let the file's held writes land or fail first.
                lost = file.WriteBackErrors.ForClose(f.Value);
            }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
            // close(2) ends the owner's fcntl locks on the file whatever the flush answered.
            file.Node.Locks?.DropOwner(ctx.LockOwner);
            return WriteBackReport(e, lost);
        }
        finally { lease.Dispose(); Timed(MountFop.Flush, t0); }
    }

    /// <summary>
    /// FSYNC (fsync, fdatasync, and msync through the kernel): the fop, then the file's write-back
    /// errors this fd has not reported yet (<see cref="ErrorSeq"/>) — consumed here, whatever the
    /// fop answered, as Linux does; the fop's own error wins the reply.
    /// </summary>
    public async ValueTask<Errno> FsyncAsync(FopContext ctx, MountFile file, bool dataOnly)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try
            {
                var e = f.Value.IsDirectory ? await g.Top.FsyncdirAsync(ctx, f.Value, dataOnly).ConfigureAwait(false)
                                            : await g.Top.FsyncAsync(ctx, f.Value, dataOnly).ConfigureAwait(false);
                return WriteBackReport(e, file.WriteBackErrors.TakeForFsync(f.Value));
            }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Fsync, t0); }
    }

    /// <summary>
    /// The write-back error the next fsync of <paramref name="file"/> would report, without consuming
    /// it (no fop, no graph entered): for front ends that can tell early, like a stream's Flush().
    /// </summary>
    public Errno PendingWriteBackError(MountFile file) => file.WriteBackErrors.PeekForFsync(file.Fd);

    private Errno WriteBackReport(Errno fop, Errno lost)
    {
        if (lost == Errno.OK) return fop;
        Interlocked.Increment(ref _counters.WriteBackErrorsReported);
        return fop != Errno.OK ? fop : lost;
    }

    /// <summary>FSYNCDIR: the same as <see cref="FsyncAsync"/> on a directory handle.</summary>
    public ValueTask<Errno> FsyncdirAsync(FopContext ctx, MountFile dir, bool dataOnly) => FsyncAsync(ctx, dir, dataOnly);

    public async ValueTask<Errno> FallocateAsync(FopContext ctx, MountFile file, int mode, long offset, long length)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.FallocateAsync(ctx, f.Value, mode, offset, length).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Fallocate, t0); }
    }

    public async ValueTask<Result<long>> LseekAsync(FopContext ctx, MountFile file, long offset, int whence)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try { return await g.Top.LseekAsync(ctx, f.Value, offset, whence).ConfigureAwait(false); }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Lseek, t0); }
    }

    public async ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, MountFile fileIn, long offIn, MountFile fileOut, long offOut, long length, uint flags)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (lease, fin) = await EnterFileAsync(ctx, fileIn).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!fin.Ok) return fin.Error;
            try
            {
                var fout = await _migrator.ResolveAsync(fileOut, g).ConfigureAwait(false);
                // The output file already moved past the graph this call entered: the kernel
                // falls back to read/write on EXDEV, which is always safe.
                if (fout.Kind == FdResolution.MovedPast) return Errno.EXDEV;
                if (fout.Kind == FdResolution.Failed) return fout.Error;
                try { return await g.Top.CopyFileRangeAsync(ctx, fin.Value, offIn, fout.Fd!, offOut, length, flags).ConfigureAwait(false); }
                finally { await PutFdAsync(fout.Fd!).ConfigureAwait(false); }
            }
            finally { await PutFdAsync(fin.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.CopyFileRange, t0); }
    }

    /// <summary>
    /// RELEASE / RELEASEDIR: the front end will not name this file again. Its id becomes stale at
    /// once; the fd is released on its graph when the last fop still using it finishes.
    /// </summary>
    public async ValueTask<Errno> ReleaseAsync(MountFile file)
    {
        if (!file.MarkReleased()) return Errno.EBADF;
        var t0 = Stopwatch.GetTimestamp();
        _files.Remove(file);
        _locks.ForgetFile(file);
        Interlocked.Increment(ref _counters.FilesReleased);
        // A migration in progress owns file.Fd until it has published the new fd and let go of
        // the old one: drop the file's reference only after it, or both would drop the old one.
        await file.MigrationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await PutFdAsync(file.Fd).ConfigureAwait(false);
            if (file.HintGraph is { } left) { file.HintGraph = null; GraphSet.DropHint(left); }
        }
        finally { file.MigrationLock.Release(); Timed(MountFop.Release, t0); }
        return Errno.OK;
    }

    /// <summary>RELEASEDIR: see <see cref="ReleaseAsync"/>.</summary>
    public ValueTask<Errno> ReleasedirAsync(MountFile dir) => ReleaseAsync(dir);
}
