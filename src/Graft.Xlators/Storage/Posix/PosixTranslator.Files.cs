using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// create, open, and I/O on open fds. readv/writev/fstat are the hot path: one pread/pwrite/
// fstat on the OS fd kept in the Fd's context, no allocation, no credential switch (the
// kernel checked the caller's access when the fd was opened) — except a non-root caller's
// write to a set-user-ID or set-group-ID file, which runs as the caller (ModifyAs).
public sealed partial class PosixTranslator
{
    // Open flags passed to the kernel. O_CREAT/O_EXCL are handled by create; O_NOFOLLOW would stop the
    // /proc reopen (the object is already resolved without following); O_DIRECT would demand aligned
    // buffers that the layers above do not promise.
    private const int PassedOpenFlags = OpenFlags.O_ACCMODE | OpenFlags.O_APPEND | OpenFlags.O_TRUNC | OpenFlags.O_NONBLOCK
        | OpenFlags.O_DSYNC | OpenFlags.O_SYNC | OpenFlags.O_NOATIME | OpenFlags.O_LARGEFILE | OpenFlags.O_DIRECTORY;

    public override unsafe ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var parent = ParentOf(loc);
        var name = loc.Name;
        if (name is null || gfid.IsZero || gfid.IsRoot) return Done(new Result<Iatt>(Errno.EINVAL));
        if (IsPrivate(parent, name)) return Done(new Result<Iatt>(Errno.EPERM));
        Span<byte> z = stackalloc byte[NameBufLen];
        var e = EncodeName(name, z);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        e = AcquireDir(parent, out var dir);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        int kflags = (flags & PassedOpenFlags & ~OpenFlags.O_DIRECTORY) | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        uint perm = mode & FileMode.PermMask & ~umask;
        bool writer = OpensForWriting(flags), counted = false;
        AddOpen(gfid); // before the handle exists, so a racing unlink cannot drop it under us
        int os = -1, objFd = -1;
        Result<Iatt> result;
        try
        {
            lock (NameLock(parent, name))
            {
                using (FsCreds.Enter(ctx))
                    fixed (byte* p = z) os = FdBudget.OpenAt(dir.Fd, p, kflags | Libc.O_CREAT | Libc.O_EXCL, FileMode.S_IFREG | perm);
                if (os >= 0)
                {
                    result = Stamp(ctx, dir, z, parent, name, gfid, perm, out objFd, createdFd: os);
                    if (!result.Ok) { Libc.close(os); os = -1; }
                    else if (writer) counted = BeginWrite(gfid, -1) == Errno.OK; // a file just made has no mark
                }
                else if (LastErr() != Errno.EEXIST) result = LastErr();
                else
                {
                    result = Existing(ctx, dir, z, parent, name, gfid, FileMode.S_IFREG, out objFd);
                    if (result.Error == Errno.EEXIST && (flags & OpenFlags.O_EXCL) == 0)
                    {
                        // Plain O_CREAT of a name that holds another object. A file is not opened under
                        // the GFID the client sent (its fd would name one file and reach another): ESTALE,
                        // and the client looks the name up and opens what is there.
                        var r = Resolve(ctx, Loc.Child(parent, name), out var obj);
                        result = r != Errno.OK ? r : obj.IsDir ? Errno.EISDIR
                            : !FileMode.IsReg(obj.St.Mode) ? NotOpenable(obj.St.Mode) : Errno.ESTALE;
                        obj.Close();
                    }
                    if (result.Ok && writer)
                    {
                        // An existing file: a move may hold it (EINPROGRESS).
                        var busy = BeginWrite(gfid, objFd);
                        if (busy == Errno.OK) counted = true;
                        else result = busy;
                    }
                    if (result.Ok)
                    {
                        os = Reopen(ctx, objFd, kflags & ~Libc.O_NOFOLLOW);
                        if (os < 0) result = LastErr();
                    }
                }
            }
            if (result.Ok) ctx.PostParent = DirAttrs(dir.Fd, parent);
        }
        finally
        {
            if (objFd >= 0) Libc.close(objFd);
            ReleaseDir(dir);
        }
        if (!result.Ok)
        {
            if (counted) EndWrite(gfid);
            DropOpen(gfid);
            return Done(result);
        }
        Bind(fd, new PosixFd(os, gfid, isDir: false, counted));
        return Done(result);
    }

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
    {
        var nameless = TargetGfid(loc);
        if (loc.Name is null && !nameless.IsZero) AddOpen(nameless); // pin the handle while we open through it
        var e = Resolve(ctx, loc, out var obj);
        try
        {
            if (e != Errno.OK) return Done(e);
            if (loc.Name is not null && !nameless.IsZero && obj.Gfid != nameless) return Done(Errno.ESTALE); // the name now holds another object
            if (obj.IsDir && (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY) return Done(Errno.EISDIR);
            if (!obj.IsDir && !FileMode.IsReg(obj.St.Mode)) return Done(NotOpenable(obj.St.Mode));
            bool writer = !obj.IsDir && OpensForWriting(flags);
            if (writer && BeginWrite(obj.Gfid, obj.Fd) is var busy && busy != Errno.OK) return Done(busy);
            int os = Reopen(ctx, obj.Fd, flags & PassedOpenFlags);
            if (os < 0)
            {
                var err = LastErr();
                if (writer) EndWrite(obj.Gfid);
                return Done(err);
            }
            if (!obj.IsDir) AddOpen(obj.Gfid);
            Bind(fd, new PosixFd(os, obj.Gfid, obj.IsDir, writer));
            return Done(Errno.OK);
        }
        finally
        {
            obj.Close();
            if (loc.Name is null && !nameless.IsZero) DropOpen(nameless);
        }
    }

    /// <summary>
    /// Special files are made and described by the brick but never opened on it: a client's kernel
    /// opens devices, FIFOs and sockets locally. Opening them here would reach the server's own
    /// devices (outside the brick) or block a thread on a FIFO. A symlink is never followed: ELOOP.
    /// </summary>
    private static Errno NotOpenable(uint mode) => FileMode.IsLnk(mode) ? Errno.ELOOP : Errno.ENXIO;

    public override unsafe ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<int>(Errno.EBADF));
        // The front end may take the file's pages itself (protocol/server splices them to its socket): the range is
        // offered while this call holds the fd, and what the sink could not take is read here as always.
        if (ctx.ReadSink is { } sink && offset >= 0 && sink.TakeRange(pf.Os, offset, buffer.Length) is var taken and >= 0)
            return Done(new Result<int>((int)taken));
        nint n;
        fixed (byte* p = buffer.Span) n = Libc.pread(pf.Os, p, (nuint)buffer.Length, offset);
        return Done(n < 0 ? new Result<int>(LastErr()) : new Result<int>((int)n));
    }

    public override unsafe ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<int>(Errno.EBADF));
        nint n;
        using (ModifyAs(ctx, pf.Os))
        {
            if (ctx.WriteSource is { } source && WriteFromSource(source, pf, offset, ref data) is { } taken)
            {
                if (!taken.Ok) return Done(taken);
                n = taken.Value;
            }
            else
            {
                fixed (byte* p = data.Span) n = Libc.pwrite(pf.Os, p, (nuint)data.Length, offset);
                if (n < 0) return Done(new Result<int>(LastErr())); // read before the credentials are restored
            }
        }
        StartWriteback(pf, offset, n);
        return Done(new Result<int>((int)n));
    }

    /// <summary>
    /// write-splice: the write's data is still in the front end's hands (protocol/server received it into a pipe): it
    /// writes it into the file at <paramref name="offset"/> itself. Null when it could not (an O_APPEND fd, where the
    /// kernel refuses a positioned splice, or a file system without splice): then <paramref name="data"/> is where the
    /// bytes now are, for the pwrite as always; EIO when they could not be had.
    /// </summary>
    private static Result<int>? WriteFromSource(IWriteSource source, PosixFd pf, long offset, ref ReadOnlyMemory<byte> data)
    {
        if (source.TryWriteTo(pf.Os, offset, out var written)) return written;
        if (!source.TryFill(out data)) return new Result<int>(Errno.EIO);
        return null;
    }

    /// <summary>
    /// writeback-chunk: once an fd has written that many bytes, the kernel is asked to start writing them to disk
    /// (sync_file_range, SYNC_FILE_RANGE_WRITE: nothing waits for the disk). Left to itself the kernel writes a file's
    /// dirty pages only when they are old (30 s) or a tenth of memory is dirty, so a big write followed by fsync had the
    /// disk idle during the writes and the whole file to write in the fsync; a replica's three copies on one host write
    /// three times that. Started as the writes go, the disk works beside them, and the fsync finds little left. A file
    /// written in less than a chunk is left to the kernel (a temporary file that is removed soon never reaches the disk).
    /// Failures change nothing: the pages stay dirty and the kernel (or the fsync) writes them as before. The call is
    /// made on the thread pool, one at a time per fd (a write never waits for the disk's queue), through a dup of the fd.
    /// </summary>
    private void StartWriteback(PosixFd pf, long offset, nint n)
    {
        long chunk = Volatile.Read(ref _writebackChunk);
        if (chunk <= 0 || n <= 0 || !pf.Written(offset, n, chunk, out long from, out long to)) return;
        int dup = Libc.dup(pf.Os);
        if (dup < 0) { pf.WritebackDone(); return; }
        pf.StartWriteback(this, dup, from, to);
    }

    internal void CountWritebackStarted() => Interlocked.Increment(ref _writebacksStarted);
    internal long WritebackChunk => Volatile.Read(ref _writebackChunk);
    internal bool DropBehind => Volatile.Read(ref _dropBehind) != 0;

    /// <summary>How many drop-behind waits may hold a pool thread at once on this brick (tests may lower or raise it).</summary>
    internal int MaxDropWaits = Math.Max(1, Environment.ProcessorCount / 2);
    private int _dropWaits;

    internal bool TryEnterDropWait()
    {
        if (Interlocked.Increment(ref _dropWaits) <= Volatile.Read(ref MaxDropWaits)) return true;
        Interlocked.Decrement(ref _dropWaits);
        return false;
    }

    internal void ExitDropWait() => Interlocked.Decrement(ref _dropWaits);

    /// <summary>
    /// A new open file description of <paramref name="fd"/>'s file, read-only, for drop-behind's wait: sync_file_range's
    /// waits check and advance the writeback-error cursor of the open file they are made through (file_fdatawait_range),
    /// and the brick's fd (and a dup of it, which shares it) must keep that error for the client's fsync. A file of its
    /// own has a cursor of its own. -1 when it cannot be opened (then no wait; out of fds, nothing is shed for it).
    /// </summary>
    internal static unsafe int OpenForWait(int fd)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        fixed (byte* p = path) return Libc.openat(Libc.AT_FDCWD, p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
    }

    /// <summary>
    /// Fault injection for tests: while set and not signalled, drop-behind holds before its wait (at most 30 s), as a
    /// disk that never finishes would, so a test can show that no write waits for it.
    /// </summary>
    internal ManualResetEventSlim? DropHold;
    /// <summary>Set by drop-behind when it reaches <see cref="DropHold"/>.</summary>
    internal ManualResetEventSlim? DropHeld;

    internal void CountDropped(long bytes, long ticks, bool waited)
    {
        if (!waited) Interlocked.Increment(ref _droppedUnwaited);
        Interlocked.Increment(ref _droppedRanges);
        Interlocked.Add(ref _droppedBytes, bytes);
        Interlocked.Add(ref _dropWaitTicks, ticks);
    }

    /// <summary>
    /// The caller's credentials for a call that changes a file's data, where they matter. The kernel clears the
    /// set-user-ID bit on such a call (write, copy_file_range into the file, fallocate) by a caller without
    /// CAP_FSETID, and the set-group-ID bit when the file is group-executable or the caller is not in its group —
    /// but this brick writes as root, which keeps them. So a non-root caller's call on a regular file carrying
    /// either bit runs as the caller, and the kernel applies exactly its own rule (as ext4 on the caller's own
    /// machine would). Any other call stays on the hot path: one fstat more, no credential switch.
    /// truncate, open with O_TRUNC and chown already run as the caller, and clear the bits the same way.
    /// </summary>
    /// <remarks>A chmod that adds a bit between the fstat and the write is ordered after the write (the bits
    /// stay), where the kernel would order it either way; both outcomes are ones a local chmod racing a write
    /// can give.</remarks>
    private static unsafe FsCreds.Scope ModifyAs(FopContext ctx, int os)
    {
        if (ctx.IsRoot || !FsCreds.CanSwitch) return default;
        Stat st;
        if (Libc.fstat(os, &st) != 0 || !FileMode.IsReg(st.Mode) || (st.Mode & (FileMode.S_ISUID | FileMode.S_ISGID)) == 0) return default;
        return FsCreds.Enter(ctx);
    }

    /// <summary>Nothing to do here: POSIX locks belong to features/locks; the OS fd lives until release.</summary>
    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) =>
        Done(fd.GetCtx(this) is PosixFd ? Errno.OK : Errno.EBADF);

    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(Errno.EBADF);
        return Done((dataOnly ? Libc.fdatasync(pf.Os) : Libc.fsync(pf.Os)) == 0 ? Errno.OK : LastErr());
    }

    public override unsafe ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
    {
        if (fdIn.GetCtx(this) is not PosixFd a || fdOut.GetCtx(this) is not PosixFd b) return Done(new Result<long>(Errno.EBADF));
        if (length < 0) return Done(new Result<long>(Errno.EINVAL));
        nint n;
        using (ModifyAs(ctx, b.Os))
        {
            n = Libc.copy_file_range(a.Os, &offIn, b.Os, &offOut, (nuint)length, flags);
            if (n < 0) return Done(new Result<long>(LastErr()));
        }
        return Done(new Result<long>(n));
    }

    public override ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(Errno.EBADF);
        using (ModifyAs(ctx, pf.Os))
            return Done(Libc.fallocate(pf.Os, mode, offset, length) == 0 ? Errno.OK : LastErr());
    }

    public override ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<long>(Errno.EBADF));
        long r = Libc.lseek(pf.Os, offset, whence);
        return Done(r < 0 ? new Result<long>(LastErr()) : new Result<long>(r));
    }

    /// <summary>
    /// Locks on the brick's own fd (open file description locks, or flock). Arbitration between
    /// clients' lock owners is features/locks' job above; this only makes the brick's file locks
    /// real for local observers. A blocking request polls, bounded by the fop's cancellation.
    /// </summary>
    public override async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Errno.EBADF;
        var delay = 1;
        while (true)
        {
            var r = TryLock(pf.Os, cmd, ref lk);
            if (r != Errno.EAGAIN || cmd != LockCmd.SetLkW) return r == Errno.OK ? lk : r;
            try { await Task.Delay(delay, ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return Errno.EINTR; }
            delay = Math.Min(delay * 2, 100);
        }
    }

    private static unsafe Errno TryLock(int os, LockCmd cmd, ref FileLock lk)
    {
        if (lk.Flock)
        {
            if (cmd == LockCmd.GetLk) return Errno.EINVAL;
            int op = lk.Type switch { LockType.Read => Libc.LOCK_SH, LockType.Write => Libc.LOCK_EX, _ => Libc.LOCK_UN } | Libc.LOCK_NB;
            if (Libc.flock(os, op) == 0) return Errno.OK;
            return LastErr() == (Errno)11 ? Errno.EAGAIN : LastErr();
        }
        var fl = new FlockNative { Type = (short)lk.Type, Whence = 0, Start = lk.Start, Len = lk.Length };
        int c = cmd == LockCmd.GetLk ? Libc.F_OFD_GETLK : Libc.F_OFD_SETLK;
        if (Libc.fcntl(os, c, &fl) != 0) return LastErr() == Errno.EACCES ? Errno.EAGAIN : LastErr();
        if (cmd == LockCmd.GetLk)
        {
            lk.Type = (LockType)fl.Type;
            lk.Start = fl.Start;
            lk.Length = fl.Len;
            lk.Pid = fl.Pid;
        }
        return Errno.OK;
    }

    private void Bind(Fd fd, PosixFd pf)
    {
        Interlocked.Increment(ref _osFds);
        FdBudget.FileOpened();
        fd.SetCtx(this, pf);
    }

    public override ValueTask ReleaseAsync(Fd fd)
    {
        if (fd.GetCtx(this) is PosixFd pf && Interlocked.Exchange(ref pf.Closed, 1) == 0)
        {
            // The open ends before the close: its fd still tells the file's link count (DropOpen).
            if (!pf.IsDir) DropOpen(pf.Gfid, pf.Os);
            Libc.close(pf.Os);
            Interlocked.Decrement(ref _osFds);
            FdBudget.FileClosed();
            if (pf.Writer) EndWrite(pf.Gfid);
            Unmark(pf);
            fd.SetCtx(this, null);
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask ReleasedirAsync(Fd fd) => ReleaseAsync(fd);
}
