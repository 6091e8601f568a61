using System.Runtime.InteropServices;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// A pipe through which a range of a file goes to a socket with splice(2): the file's page-cache pages are put in
/// the pipe by reference (<see cref="Fill"/>), then handed to the socket by reference (<see cref="SendTo"/>), so the
/// bytes are copied neither out of the page cache (pread) nor into the socket (sendmsg). A pipe is filled before
/// the frame that carries its bytes is written, so that frame's header says how many there are — the file may end
/// before the range does, or shrink meanwhile. A pipe is reused for the next range once it is empty; one that
/// failed halfway is closed instead (<see cref="Broken"/>), never reused with bytes left in it.
/// </summary>
internal sealed unsafe partial class SplicePipe : IDisposable
{
    private int _read = -1, _write = -1;
    private int _capacity;

    /// <summary>Bytes in the pipe, not yet sent or drained.</summary>
    public int Held { get; private set; }

    /// <summary>A call failed with bytes possibly left in the pipe: it must be closed, not reused.</summary>
    public bool Broken { get; private set; }

    /// <summary>Whether this platform has the calls this class declares (64-bit Linux).</summary>
    public static bool Supported { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    private SplicePipe() { }

    /// <summary>A new pipe, or null when the process has no descriptors to spare (the caller reads as usual).</summary>
    public static SplicePipe? Create()
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return null;
        var p = new SplicePipe { _read = fds[0], _write = fds[1] };
        p._capacity = fcntl(p._write, F_GETPIPE_SZ, 0);
        return p;
    }

    /// <summary>
    /// Makes the pipe big enough for <paramref name="length"/> bytes from <paramref name="offset"/> of a file: one slot
    /// per page the range touches (F_SETPIPE_SZ; a pipe only grows). False when it cannot be made that big (over
    /// /proc/sys/fs/pipe-max-size, 1 MiB by default, without CAP_SYS_RESOURCE — an unaligned 1 MiB read needs 257
    /// pages): then nothing is spliced through it, since a half-filled range would have to be copied anyway.
    /// </summary>
    private bool Fit(long offset, int length)
    {
        int page = Environment.SystemPageSize;
        long need = ((offset % page) + length + page - 1) / page * page;
        if (_capacity >= need) return true;
        if (need >= Volatile.Read(ref s_refused)) return false;
        int got = fcntl(_write, F_SETPIPE_SZ, (int)need);
        if (got < need)
        {
            // Every bigger size fails too: remembered, so such reads cost no failing call each.
            if (got < 0)
                for (long seen = Volatile.Read(ref s_refused); need < seen; seen = Volatile.Read(ref s_refused))
                    if (Interlocked.CompareExchange(ref s_refused, need, seen) == seen) break;
            return false;
        }
        _capacity = got;
        return true;
    }

    /// <summary>The smallest pipe size F_SETPIPE_SZ refused in this process (long.MaxValue: none yet).</summary>
    private static long s_refused = long.MaxValue;

    /// <summary>
    /// Puts up to <paramref name="length"/> bytes of <paramref name="file"/> from <paramref name="offset"/> in the pipe
    /// (the file's position is not used or moved): the bytes now held, fewer only where the file ends; or −1 when the
    /// file could not be spliced (a file system without splice, a read error, no room for the range): then the pipe
    /// holds nothing usable and the caller reads the range itself, which reports any error of its own.
    /// </summary>
    public long Fill(int file, long offset, int length)
    {
        if (Held != 0 || Broken || !Fit(offset, length)) return -1;
        long off = offset, got = 0;
        while (got < length)
        {
            // Non-blocking on the pipe side only (a full pipe answers EAGAIN rather than waiting for a reader that is
            // this thread); the file side reads from the disk as a pread would.
            nint n = splice(file, &off, _write, null, (nuint)(length - got), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) { got += n; Held = (int)got; continue; }
            if (n == 0) break;   // the file ends here
            if (Marshal.GetLastPInvokeError() == EINTR) continue;
            if (got > 0) Broken = true;   // part of the range is in the pipe: useless alone, and not to be reused
            return -1;
        }
        return got;
    }

    /// <summary>
    /// One non-blocking splice of what the pipe holds (at most <paramref name="most"/> bytes) into the socket
    /// <paramref name="socket"/>: the bytes the socket took (0 when it is full), or −1 with <paramref name="errno"/> set
    /// when it failed. <paramref name="more"/>: further bytes of the frame follow (MSG_MORE).
    /// </summary>
    public nint SendTo(int socket, int most, bool more, out int errno)
    {
        errno = 0;
        while (true)
        {
            nint n = splice(_read, null, socket, null, (nuint)Math.Min(most, Held), SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0));
            if (n >= 0) { Held -= (int)n; return n; }
            errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { errno = 0; return 0; }
            Broken = true;
            return -1;
        }
    }

    /// <summary>
    /// Copies all the pipe holds into <paramref name="into"/> (at least <see cref="Held"/> bytes long), emptying it:
    /// the way out when the socket cannot take the bytes now or the connection cannot splice. False when the pipe
    /// failed (then it is <see cref="Broken"/>).
    /// </summary>
    public bool DrainInto(Span<byte> into)
    {
        int done = 0;
        fixed (byte* p = into)
            while (Held > 0)
            {
                nint n = read(_read, p + done, (nuint)Held);
                if (n > 0) { done += (int)n; Held -= (int)n; continue; }
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
                Broken = true;
                return false;
            }
        return true;
    }

    // ---- write-splice: a write's payload from the socket into the pipe, then from the pipe into the file ----

    /// <summary>Makes an empty pipe big enough for a write's <paramref name="length"/> bytes (one slot per page); false when it cannot be.</summary>
    /// <remarks>Two pages more when the pipe may grow so far: the first bytes are copied in (one slot, partly filled) and the
    /// socket's pieces need not start on a page.</remarks>
    public bool FitWrite(int length) => Held == 0 && !Broken && (Fit(0, length + 2 * Environment.SystemPageSize) || Fit(0, length));

    /// <summary>
    /// Copies <paramref name="bytes"/> (a write's first bytes, received with its header) into the pipe, in front of what
    /// <see cref="FromSocket"/> adds. False when the pipe did not take them all (it is then <see cref="Broken"/>).
    /// </summary>
    public bool Put(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
            for (int done = 0; done < bytes.Length;)
            {
                nint n = write(_write, p + done, (nuint)(bytes.Length - done));
                if (n > 0) { done += (int)n; Held += (int)n; continue; }
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
                Broken = true;
                return false;
            }
        return true;
    }

    /// <summary>
    /// One non-blocking splice of up to <paramref name="most"/> bytes from the socket <paramref name="socket"/> into the
    /// pipe (the socket's pages are moved in by reference, not copied): the bytes moved; 0 when the peer closed;
    /// −1 when nothing could be moved now (no bytes in the socket, or the pipe is full); −2 with
    /// <paramref name="errno"/> when the socket failed.
    /// </summary>
    public nint FromSocket(int socket, int most, out int errno)
    {
        errno = 0;
        while (true)
        {
            nint n = splice(socket, null, _write, null, (nuint)most, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n >= 0) { Held += (int)n; return n; }
            errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { errno = 0; return -1; }
            return -2;
        }
    }

    /// <summary>
    /// Moves all the pipe holds into <paramref name="file"/> at <paramref name="offset"/> (the file's position is not used):
    /// the bytes written, fewer when the file refused the rest (<paramref name="errno"/> says why; the pipe is then
    /// <see cref="Broken"/>); 0 with errno when nothing was written. EINVAL with nothing written means this file cannot
    /// take a splice (O_APPEND, a file system without it): the pipe is intact and may still be drained.
    /// </summary>
    public long ToFile(int file, long offset, out int errno)
    {
        errno = 0;
        long off = offset, done = 0;
        while (Held > 0)
        {
            nint n = splice(_read, null, file, &off, (nuint)Held, SPLICE_F_MOVE);
            if (n > 0) { done += n; Held -= (int)n; continue; }
            errno = n == 0 ? EIO : Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (done > 0 || errno != EINVAL) Broken = true;
            break;
        }
        return done;
    }

    /// <summary>The pipe's bytes will not be sent or drained (the frame they belonged to was given up): close it, never reuse it.</summary>
    public void Abandon() => Broken = true;

    public void Dispose()
    {
        if (_read >= 0) close(_read);
        if (_write >= 0) close(_write);
        _read = _write = -1;
    }

    private const int O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private const int F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032;
    private const uint SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2, SPLICE_F_MORE = 4;
    private const int EINTR = 4, EIO = 5, EAGAIN = 11, EINVAL = 22;

    [LibraryImport("libc", SetLastError = true)] private static partial int pipe2(int* fds, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport("libc", SetLastError = true)] private static partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
}

/// <summary>
/// The pipes of one brick, reused: each read being served takes one for the time between filling it and its frame
/// leaving (reads are served side by side on the pool, so there may be a few; any pipe serves any socket). Empty
/// pipes come back; a broken one, or one beyond <see cref="Keep"/>, is closed, so idle pipes hold at most
/// 2 × Keep descriptors. All are closed when the brick stops.
/// </summary>
internal sealed class SplicePipes
{
    private readonly Stack<SplicePipe> _free = new();   // guarded by itself
    private bool _closed;                               // guarded by _free
    private const int Keep = 16;

    /// <summary>An empty pipe, or null (no descriptors to spare, or the pool is closed).</summary>
    public SplicePipe? Rent()
    {
        lock (_free)
        {
            if (_closed) return null;
            if (_free.TryPop(out var p)) return p;
        }
        return SplicePipe.Create();
    }

    public void Return(SplicePipe p)
    {
        if (p.Held == 0 && !p.Broken)
            lock (_free)
                if (!_closed && _free.Count < Keep) { _free.Push(p); return; }
        p.Dispose();
    }

    public void Close()
    {
        lock (_free)
        {
            _closed = true;
            while (_free.TryPop(out var p)) p.Dispose();
        }
    }
}
