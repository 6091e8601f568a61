using Graft.Core;
using Graft.Fuse.Raw.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Fuse.Raw;

/// <summary>
/// One FUSE connection: the mount, INIT, the reader threads and the bookkeeping that lets handlers reply
/// from async continuations. Reader threads each own a cloned /dev/fuse fd and block in read(); a handler
/// runs on the reader thread until its first await, and its reply goes to the fd its request came from.
/// </summary>
public sealed partial class FuseSession : IDisposable
{
    readonly IFuseFileSystem _fs;
    readonly FuseMountOptions _options;
    readonly ILogger _log;
    readonly string _mountPoint;
    readonly int _masterFd;
    readonly int _bufferSize;
    readonly List<int> _fds = [];
    readonly List<Thread> _readers = [];
    readonly Lock _poolLock = new();
    readonly Stack<FuseRequest> _pool = new();
    readonly TaskCompletionSource _initDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _liveReaders;
    int _mounted;
    int _disposed;
    int _closed;
    uint _deviceMinor;

    internal CallerGroups Groups { get; }

    /// <summary>Set once INIT has been answered.</summary>
    public FuseConnectionInfo Connection { get; private set; } = new();
    public string MountPoint => _mountPoint;
    /// <summary>Completes when every reader has stopped (unmounted, aborted or disposed).</summary>
    public Task Completion => _stopped.Task;
    /// <summary>Device minor of the connection (the N in /sys/class/bdi/0:N and /sys/fs/fuse/connections/N).</summary>
    public uint DeviceMinor => _deviceMinor;

    FuseSession(IFuseFileSystem fs, FuseMountOptions options, ILogger log, string mountPoint, int fd)
    {
        _fs = fs;
        _options = options;
        _log = log;
        _mountPoint = mountPoint;
        _masterFd = fd;
        // read() fails with EINVAL below max(8192, max_write + 80). The data area after DataOffset holds a
        // whole READ reply (up to max_pages pages) in the request's own buffer.
        int maxIo = (int)Math.Max(options.MaxWrite, (uint)options.MaxPages * 4096);
        _bufferSize = Math.Max(FuseConst.MinReadBuffer, FuseRequest.DataOffset + maxIo + 4096);
        _lendMin = Math.Max(4096, (int)options.MaxWrite / 2);
        Groups = new CallerGroups(options.GroupsCacheTime);
        _interruptTimer = new Timer(static s => ((FuseSession)s!).ExpireEarlyInterrupts(), this,
            Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Mounts <paramref name="fs"/> on <paramref name="mountPoint"/>, serves it, and returns once the
    /// kernel's INIT has been answered (so the mount is usable) — or an errno, with nothing left mounted.</summary>
    public static async Task<Result<FuseSession>> MountAsync(string mountPoint, IFuseFileSystem fs,
        FuseMountOptions? options = null, ILogger? logger = null)
    {
        options ??= new FuseMountOptions();
        if (options.MaxWrite < 4096 || options.MaxPages == 0 || options.Readers < 1)
            throw new ArgumentException("max_write ≥ 4096, max_pages ≥ 1 and readers ≥ 1 are required", nameof(options));
        mountPoint = Path.GetFullPath(mountPoint);
        var fd = FuseMount.Mount(mountPoint, options);
        if (!fd.Ok) return fd.Error;
        var session = new FuseSession(fs, options, logger ?? NullLogger.Instance, mountPoint, fd.Value);
        session._mounted = 1;
        session._deviceMinor = FuseMount.FindDevice(mountPoint)?.Minor ?? 0;
        session.StartReader(fd.Value);
        var winner = await Task.WhenAny(session._initDone.Task, session._stopped.Task,
            Task.Delay(options.InitTimeout)).ConfigureAwait(false);
        if (!ReferenceEquals(winner, session._initDone.Task) || !winner.IsCompletedSuccessfully)
        {
            session.Dispose();
            return ReferenceEquals(winner, session._initDone.Task) || ReferenceEquals(winner, session._stopped.Task)
                ? Errno.EPROTO : Errno.ETIMEDOUT;
        }
        // More readers only now: INIT must be the first request answered, and clones need a live connection.
        for (int i = 1; i < options.Readers; i++)
        {
            int clone = CloneFd(fd.Value);
            if (clone < 0) { session.LogCloneFailed((Errno)(-clone)); break; }
            session.StartReader(clone);
        }
        if (options.ReadAheadKb is int ra)
        {
            var err = FuseMount.SetReadAhead(mountPoint, ra);
            if (err != Errno.OK) session.LogReadAheadFailed(ra, err);
        }
        return session;
    }

    /// <summary>Serves an already connected device-like fd (a SOCK_SEQPACKET socket in protocol tests) with one
    /// reader, without mounting anything. End-of-file on it ends the session.</summary>
    internal static FuseSession Serve(int fd, IFuseFileSystem fs, FuseMountOptions options, ILogger? logger = null)
    {
        var session = new FuseSession(fs, options, logger ?? NullLogger.Instance, "", fd);
        session.StartReader(fd);
        return session;
    }

    static unsafe int CloneFd(int master)
    {
        int fd = LibC.Open("/dev/fuse", LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) return -LibC.LastErrno;
        uint m = (uint)master;
        if (LibC.Ioctl(fd, LibC.FUSE_DEV_IOC_CLONE, &m) != 0)
        {
            int err = LibC.LastErrno;
            LibC.Close(fd);
            return -err;
        }
        return fd;
    }

    void StartReader(int fd)
    {
        lock (_poolLock) _fds.Add(fd);
        Interlocked.Increment(ref _liveReaders);
        var t = new Thread(() => ReadLoop(fd)) { IsBackground = true, Name = $"fuse-reader-{_readers.Count}" };
        _readers.Add(t);
        t.Start();
    }

    unsafe void ReadLoop(int fd)
    {
        try
        {
            while (Volatile.Read(ref _disposed) == 0)
            {
                var req = Rent();
                nint n = LibC.Read(fd, req.Buffer, (nuint)req.Capacity);
                if (n == 0) { Return(req); return; } // only a test socket ends this way; /dev/fuse says ENODEV
                if (n < 0)
                {
                    var err = (Errno)LibC.LastErrno;
                    Return(req);
                    // ENOENT: the request was interrupted before we got it; EINTR/EAGAIN: try again.
                    if (err is Errno.ENOENT or Errno.EINTR or Errno.EAGAIN) continue;
                    // ENODEV: unmounted; ECONNABORTED: aborted. Anything else is unexpected but equally final.
                    if (err is not (Errno.ENODEV or Errno.ECONNABORTED)) LogReadFailed(err);
                    return;
                }
                Dispatch(req, fd, (int)n);
            }
        }
        catch (Exception e)
        {
            LogReaderCrashed(e);
        }
        finally
        {
            if (Interlocked.Decrement(ref _liveReaders) == 0) OnAllReadersStopped();
        }
    }

    void OnAllReadersStopped()
    {
        try { _fs.Destroyed(); }
        catch (Exception e) { LogReaderCrashed(e); }
        _stopped.TrySetResult();
    }

    internal unsafe Errno WriteReply(int fd, LibC.IoVec* iov, int count, FuseRequest req)
    {
        // After Dispose closed the device the number may name another file: never write there.
        if (Volatile.Read(ref _closed) != 0) return Errno.ENODEV;
        nint n = LibC.Writev(fd, iov, count);
        var err = n >= 0 ? Errno.OK : (Errno)LibC.LastErrno;
        if (_options.Debug) LogReply(req.Unique, req.Opcode, -((FuseOutHeader*)iov[0].Base)->Error, (int)((FuseOutHeader*)iov[0].Base)->Len, err);
        if (n >= 0) return Errno.OK;
        // ENOENT: the request was interrupted and is gone — normal. ENODEV: the connection ended.
        if (err is not (Errno.ENOENT or Errno.ENODEV or Errno.ECONNABORTED)) LogReplyFailed(req.Unique, req.Opcode, err);
        return err;
    }

    /// <summary>Writes a bare error reply for <paramref name="unique"/> (used for INTERRUPT's EAGAIN).</summary>
    unsafe Errno WriteError(int fd, ulong unique, Errno error)
    {
        if (Volatile.Read(ref _closed) != 0) return Errno.ENODEV;
        var h = new FuseOutHeader { Len = (uint)sizeof(FuseOutHeader), Error = -(int)error, Unique = unique };
        var iov = new LibC.IoVec { Base = &h, Length = (nuint)sizeof(FuseOutHeader) };
        return LibC.Writev(fd, &iov, 1) >= 0 ? Errno.OK : (Errno)LibC.LastErrno;
    }

    FuseRequest Rent()
    {
        lock (_poolLock)
        {
            if (_pool.TryPop(out var r)) return r;
        }
        return new FuseRequest(this, _bufferSize);
    }

    void Return(FuseRequest r)
    {
        lock (_poolLock)
        {
            if (Volatile.Read(ref _disposed) == 0 && _pool.Count < _options.PooledBuffers + _options.Readers)
            {
                _pool.Push(r);
                return;
            }
        }
        r.Free();
    }

    internal void HandlerDone(FuseRequest r)
    {
        try { _fs.RequestDone(r); }
        catch (Exception e) { LogHandlerFailed(r.Unique, r.Opcode, e); } // it must not throw; the request is answered already
    }

    /// <summary>The handler is done with the request: forget it for INTERRUPT and reuse its buffer (once it is given
    /// back, if it was lent: FuseRequest.Lend.cs).</summary>
    internal void Release(FuseRequest r)
    {
        Unregister(r);
        if (r.EndHandler()) Return(r);
    }

    /// <summary>A lent request's buffer came back after its handler finished.</summary>
    internal void ReturnLent(FuseRequest r) => Return(r);

    /// <summary>Smallest WRITE payload whose buffer is lent rather than copied: half the largest, so a lent buffer is
    /// at least half used and a write-behind window holds few of them.</summary>
    internal int LendMin => _lendMin;
    readonly int _lendMin;
    int _lent;

    /// <summary>Buffers out on loan now (tests, state).</summary>
    public int BuffersLent => Volatile.Read(ref _lent);

    /// <summary>Counts one more loan if fewer than half the pooled buffers are lent: the pool keeps the rest for
    /// reading, and the buffers lent come back to it rather than being freed and made again.</summary>
    internal bool TryCountLoan()
    {
        if (Interlocked.Increment(ref _lent) <= _options.PooledBuffers / 2) return true;
        Interlocked.Decrement(ref _lent);
        return false;
    }

    internal void EndLoan() => Interlocked.Decrement(ref _lent);

    internal void ReportMissingReply(FuseRequest r, Exception? error)
    {
        if (error is null) LogNoReply(r.Unique, r.Opcode);
        else LogHandlerFailed(r.Unique, r.Opcode, error);
    }

    /// <summary>Unmounts. Readers stop when the kernel ends the connection (at once, or when the last open
    /// file closes if the mount was busy and had to be detached).</summary>
    public Errno Unmount()
    {
        if (Interlocked.Exchange(ref _mounted, 0) == 0 || _mountPoint.Length == 0) return Errno.OK;
        return FuseMount.Unmount(_mountPoint, _options.UseFusermount);
    }

    /// <summary>Ends the connection as a dying daemon would: the kernel aborts it (every waiter fails, later
    /// calls get ENOTCONN), the readers stop and the device fds are closed. The mount stays until unmounted.</summary>
    public Errno Abort()
    {
        if (_deviceMinor == 0) return Errno.ENODEV;
        var err = FuseMount.AbortConnection(_deviceMinor);
        if (err == Errno.OK) WaitForReaders();
        CloseDevice();
        return err;
    }

    bool WaitForReaders()
    {
        var deadline = DateTime.UtcNow + _options.StopTimeout;
        foreach (var t in _readers)
        {
            var left = deadline - DateTime.UtcNow;
            if (left < TimeSpan.Zero || !t.Join(left)) return false;
        }
        return true;
    }

    void CloseDevice()
    {
        if (Volatile.Read(ref _liveReaders) != 0) return; // a reader still blocked in read() would hold it
        // Handlers still running after the readers stopped get a bounded chance to reply first.
        var deadline = DateTime.UtcNow + _options.StopTimeout;
        while (InFlight > 0 && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Interlocked.Exchange(ref _closed, 1); // a full fence: Notify counts itself, then looks at this
        WaitForNotifications(DateTime.UtcNow + _options.StopTimeout);
        lock (_poolLock)
        {
            foreach (var fd in _fds) LibC.Close(fd);
            _fds.Clear();
        }
    }

    /// <summary>Unmounts if still mounted, stops the readers (aborting the connection if they do not stop
    /// within the bound), closes the device and frees the buffers.</summary>
    public void Dispose()
    {
        if (Volatile.Read(ref _disposed) != 0) return;
        if (Unmount() is var err and not Errno.OK) LogUnmountFailed(_mountPoint, err);
        if (!WaitForReaders() && _deviceMinor != 0)
        {
            FuseMount.AbortConnection(_deviceMinor);
            WaitForReaders();
        }
        Volatile.Write(ref _disposed, 1);
        CloseDevice();
        _interruptTimer.Dispose();
        lock (_poolLock)
        {
            while (_pool.TryPop(out var r)) r.Free();
        }
    }
}
