using System.Buffers;
using Graft.Core;
using Graft.Mount;

namespace Graft.Client;

/// <summary>
/// An open file of a <see cref="Volume"/> as a <see cref="Stream"/>. Nothing is buffered here:
/// each read and write is one fop on the session (the graph's own caches do the buffering), so
/// <see cref="Flush()"/> writes nothing and <see cref="Fsync"/> is what makes data durable.
/// Disposing sends FLUSH (which drops this stream's POSIX locks, as close(2) does) and RELEASE.
/// Like <see cref="FileStream"/>, one stream is for one caller at a time.
/// </summary>
/// <remarks>
/// Written bytes a graph acknowledged and then failed to write (write-behind's background write,
/// a brick that restarted before an fsync) are reported as fsync(2) and close(2) report them:
/// <see cref="Fsync"/> throws <see cref="GraftIOException"/> (EIO, or ENOSPC/EDQUOT) once for each
/// such failure, and disposing throws it whenever one happened while the stream was open.
/// <see cref="Flush()"/> throws what the next Fsync would, without clearing it. Reads, writes and
/// stat never do. Every stream of the file that was open at the time hears of it.
/// </remarks>
public sealed class GraftFileStream : Stream
{
    private readonly Volume _volume;
    private readonly MountSession _session;
    private readonly FopContext _ctx; // reused by every fop of this stream, so reads and writes allocate nothing here
    private readonly MountNode _node;
    private readonly MountFile _file;
    private readonly bool _append;
    private long _position;
    private int _disposed;

    internal GraftFileStream(Volume volume, FopContext ctx, MountNode node, MountFile file, string path)
    {
        _volume = volume;
        _session = volume.Session;
        _ctx = ctx;
        _node = node;
        _file = file;
        Path = path;
        var acc = file.Flags & OpenFlags.O_ACCMODE;
        CanRead = acc != OpenFlags.O_WRONLY;
        CanWrite = acc != OpenFlags.O_RDONLY;
        _append = (file.Flags & OpenFlags.O_APPEND) != 0;
    }

    /// <summary>The path the stream was opened by.</summary>
    public string Path { get; }
    /// <summary>The file's GFID: its identity on every brick and every graph.</summary>
    public Gfid Gfid => _node.Gfid;
    /// <summary>The open-file handle in the mount session (its id is the library's file handle).</summary>
    public MountFile Handle => _file;
    /// <summary>The lock owner of this stream's POSIX locks.</summary>
    public ulong LockOwner => _ctx.LockOwner;

    public override bool CanRead { get; }
    public override bool CanWrite { get; }
    public override bool CanSeek => _disposed == 0;
    public override bool CanTimeout => false;

    public override long Length => Stat().Size;

    public override long Position
    {
        get { ThrowIfDisposed(); return _position; }
        set
        {
            ThrowIfDisposed();
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    /// <summary>fstat(2) on the open file.</summary>
    public Iatt Stat() => SyncOver.Run(StatAsync());

    public async ValueTask<Iatt> StatAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        _ctx.Cancellation = ct;
        var r = await _session.GetattrAsync(_ctx, _file).ConfigureAwait(false);
        Done();
        return ThrowHelper.Check(r, "fstat", Path);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ThrowIfDisposed();
        var basis = origin switch
        {
            SeekOrigin.Begin => 0,
            SeekOrigin.Current => _position,
            SeekOrigin.End => Length,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        var pos = basis + offset;
        if (pos < 0) throw new IOException("seek before the beginning of the file");
        return _position = pos;
    }

    /// <summary>ftruncate(2): an fsetattr of the size. The position is not moved.</summary>
    public override void SetLength(long value) => SyncOver.Run(SetLengthAsync(value));

    public async ValueTask SetLengthAsync(long value, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (!CanWrite) throw new NotSupportedException("stream is not writable");
        _ctx.Cancellation = ct;
        var attr = new SetAttr { Valid = SetAttrValid.Size, Size = value };
        var r = await _session.SetattrAsync(_ctx, _file, attr).ConfigureAwait(false);
        Done();
        ThrowHelper.Check(r, "ftruncate", Path);
    }

    // ---- reading ----

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return SyncOver.Run(ReadAsync(buffer.AsMemory(offset, count)));
    }

    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var n = SyncOver.Run(ReadAsync(rented.AsMemory(0, buffer.Length)));
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (!CanRead) throw new NotSupportedException("stream is not readable");
        if (buffer.IsEmpty) return 0;
        _ctx.Cancellation = ct;
        var r = await _session.ReadAsync(_ctx, _file, buffer, _position).ConfigureAwait(false);
        Done();
        if (!r.Ok) ThrowHelper.Throw(r.Error, "read", Path);
        _position += r.Value;
        return r.Value;
    }

    // ---- writing ----

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        SyncOver.Run(WriteAsync(buffer.AsMemory(offset, count)));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            buffer.CopyTo(rented);
            SyncOver.Run(WriteAsync(rented.AsMemory(0, buffer.Length)));
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Writes all of <paramref name="data"/> (looping over short writes). With O_APPEND it lands at the end of the file.</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (!CanWrite) throw new NotSupportedException("stream is not writable");
        _ctx.Cancellation = ct;
        try { await WriteAllAsync(data).ConfigureAwait(false); }
        finally { Done(); }
    }

    private async ValueTask WriteAllAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var r = await _session.WriteAsync(_ctx, _file, data, _position).ConfigureAwait(false);
            if (!r.Ok) ThrowHelper.Throw(r.Error, "write", Path);
            if (r.Value <= 0) ThrowHelper.Throw(Errno.EIO, "write", Path); // a brick that accepts nothing would loop forever
            _position += r.Value;
            data = data[r.Value..];
        }
        if (_append)
        {
            // The brick put the data at its end of file; follow it there, as a kernel O_APPEND fd does.
            var st = await _session.GetattrAsync(_ctx, _file).ConfigureAwait(false);
            if (st.Ok) _position = st.Value.Size;
        }
    }

    /// <summary>
    /// Nothing is buffered in the stream, so nothing is written; use <see cref="Fsync"/> to make
    /// written data durable. Throws (EIO, ENOSPC, EDQUOT) if bytes written earlier were lost on the
    /// way to the brick — the error the next <see cref="Fsync"/> will report, left for it.
    /// </summary>
    public override void Flush()
    {
        ThrowIfDisposed();
        ThrowHelper.Check(_session.PendingWriteBackError(_file), "flush", Path);
    }

    public override Task FlushAsync(CancellationToken ct)
    {
        Flush();
        return Task.CompletedTask;
    }

    /// <summary>
    /// fsync(2) (fdatasync with <paramref name="dataOnly"/>): drains the graph's write caches to the
    /// bricks' disks. Throws if bytes written through any stream of the file since this one last
    /// fsynced (or opened) were lost; the next call succeeds unless more were.
    /// </summary>
    public void Fsync(bool dataOnly = false) => SyncOver.Run(FsyncAsync(dataOnly));

    public async ValueTask FsyncAsync(bool dataOnly = false, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        _ctx.Cancellation = ct;
        var e = await _session.FsyncAsync(_ctx, _file, dataOnly).ConfigureAwait(false);
        Done();
        ThrowHelper.Check(e, "fsync", Path);
    }

    // ---- locks: this stream is the owner (like an OFD lock), so they go when it is disposed ----

    /// <summary>
    /// Takes a byte-range lock (<paramref name="length"/> 0 = to end of file, however far it grows),
    /// waiting until no other owner's conflicting lock is in the way. Cancelling
    /// <paramref name="ct"/> gives up the wait (<see cref="OperationCanceledException"/>); a wait
    /// that would deadlock with another owner throws <see cref="IOException"/> (EDEADLK).
    /// </summary>
    public async ValueTask LockRangeAsync(long start, long length, bool exclusive, CancellationToken ct = default)
    {
        var r = await LkAsync(LockCmd.SetLkW, Range(exclusive ? LockType.Write : LockType.Read, start, length, flock: false), ct).ConfigureAwait(false);
        if (r.Error == Errno.EINTR && ct.IsCancellationRequested) throw new OperationCanceledException(ct);
        ThrowHelper.Check(r, "lock", Path);
    }

    /// <summary>As <see cref="LockRangeAsync"/> without waiting: false when another owner holds a conflicting lock.</summary>
    public async ValueTask<bool> TryLockRangeAsync(long start, long length, bool exclusive)
    {
        var r = await LkAsync(LockCmd.SetLk, Range(exclusive ? LockType.Write : LockType.Read, start, length, flock: false), default).ConfigureAwait(false);
        if (r.Error == Errno.EAGAIN) return false;
        ThrowHelper.Check(r, "lock", Path);
        return true;
    }

    /// <summary>Unlocks a byte range this stream holds (unlocking part of a lock splits it).</summary>
    public async ValueTask UnlockRangeAsync(long start, long length)
        => ThrowHelper.Check(await LkAsync(LockCmd.SetLk, Range(LockType.Unlock, start, length, flock: false), default).ConfigureAwait(false), "unlock", Path);

    /// <summary>
    /// F_GETLK: the first lock of another owner that would conflict with the described lock, or
    /// null if it could be taken now.
    /// </summary>
    public async ValueTask<FileLock?> GetConflictingLockAsync(long start, long length, bool exclusive)
    {
        var r = ThrowHelper.Check(await LkAsync(LockCmd.GetLk, Range(exclusive ? LockType.Write : LockType.Read, start, length, flock: false), default).ConfigureAwait(false), "getlk", Path);
        return r.Type == LockType.Unlock ? null : r;
    }

    /// <summary>flock(2) LOCK_SH / LOCK_EX, waiting (cancellable); taking the other kind converts the lock.</summary>
    public async ValueTask LockFileAsync(bool exclusive, CancellationToken ct = default)
    {
        var r = await LkAsync(LockCmd.SetLkW, Range(exclusive ? LockType.Write : LockType.Read, 0, 0, flock: true), ct).ConfigureAwait(false);
        if (r.Error == Errno.EINTR && ct.IsCancellationRequested) throw new OperationCanceledException(ct);
        ThrowHelper.Check(r, "flock", Path);
    }

    /// <summary>flock(2) with LOCK_NB: false when another owner holds a conflicting whole-file lock.</summary>
    public async ValueTask<bool> TryLockFileAsync(bool exclusive)
    {
        var r = await LkAsync(LockCmd.SetLk, Range(exclusive ? LockType.Write : LockType.Read, 0, 0, flock: true), default).ConfigureAwait(false);
        if (r.Error == Errno.EAGAIN) return false;
        ThrowHelper.Check(r, "flock", Path);
        return true;
    }

    /// <summary>flock(2) LOCK_UN.</summary>
    public async ValueTask UnlockFileAsync()
        => ThrowHelper.Check(await LkAsync(LockCmd.SetLk, Range(LockType.Unlock, 0, 0, flock: true), default).ConfigureAwait(false), "flock", Path);

    /// <summary>The raw lk fop (fcntl F_GETLK/F_SETLK/F_SETLKW, or flock with <see cref="FileLock.Flock"/>) with this stream as the owner.</summary>
    public async ValueTask<FileLock> LockAsync(LockCmd cmd, FileLock lk, CancellationToken ct = default)
        => ThrowHelper.Check(await LkAsync(cmd, lk, ct).ConfigureAwait(false), "lk", Path);

    private static FileLock Range(LockType type, long start, long length, bool flock) =>
        new() { Type = type, Start = start, Length = length, Flock = flock };

    private async ValueTask<Result<FileLock>> LkAsync(LockCmd cmd, FileLock lk, CancellationToken ct)
    {
        ThrowIfDisposed();
        if (cmd == LockCmd.Reclaim) throw new ArgumentException("reclaims are the mount's own business", nameof(cmd));
        _ctx.Cancellation = ct;
        lk.Owner = _ctx.LockOwner;
        lk.Pid = _ctx.Pid;
        try { return await _session.LkAsync(_ctx, _file, cmd, lk).ConfigureAwait(false); }
        finally { Done(); }
    }

    // ---- closing ----

    protected override void Dispose(bool disposing)
    {
        if (disposing) SyncOver.Run(CloseAsync());
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>close(2): FLUSH (drops this owner's POSIX locks), RELEASE, and the stream's lookup on the node.</summary>
    private async ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_volume.IsDisposed) return; // unmounting released this file already; there is no graph left to tell
        _ctx.Cancellation = default;
        try
        {
            var e = await _session.FlushAsync(_ctx, _file).ConfigureAwait(false);
            await _session.ReleaseAsync(_file).ConfigureAwait(false);
            // close(2) reports a failed flush (e.g. write-behind data that could not land); so do we.
            if (e is not (Errno.OK or Errno.ENOSYS)) ThrowHelper.Throw(e, "close", Path);
        }
        finally { Done(); _volume.Release(_node); }
    }

    /// <summary>
    /// After each fop: the reused context must not keep the graph it last ran on (an idle stream
    /// would pin a retired graph for ever, DESIGN invariant 8) nor the caller's cancellation source.
    /// </summary>
    private void Done()
    {
        _ctx.Graph = null;
        _ctx.Cancellation = default;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);
}

/// <summary>
/// The synchronous <see cref="Stream"/> members are a blocking API the caller chose; they wait
/// for the async fop here. Nothing inside Graft calls them. A fop that completed synchronously
/// (the common case on a local brick) is returned without blocking or allocating.
/// </summary>
internal static class SyncOver
{
#pragma warning disable VSTHRD002 // the blocking Stream API the caller chose (see above)
    public static T Run<T>(ValueTask<T> vt) => vt.IsCompletedSuccessfully ? vt.Result : vt.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002

    public static void Run(ValueTask vt)
    {
        if (vt.IsCompletedSuccessfully) return;
#pragma warning disable VSTHRD002 // the blocking Stream API the caller chose (see above)
        vt.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
    }
}
