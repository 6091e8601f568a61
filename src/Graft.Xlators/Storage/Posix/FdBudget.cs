using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// The process's file descriptors, as storage/posix sees them: RLIMIT_NOFILE bounds every fd the
/// process holds, and the bricks' open files must always win over their caches. So the directory
/// fd caches are sized from the limit, give their fds back as open files approach it ("pressure"),
/// and an open that still fails with EMFILE/ENFILE sheds every idle cached fd and tries once
/// more (<see cref="OpenAt"/>) — a client never gets EMFILE while a cache entry could have gone.
/// </summary>
/// <remarks>
/// Counts are process-wide (every storage/posix instance of every brick here), because the limit
/// is. Descriptors that are neither open files nor cached directories (sockets, logs, the
/// runtime's own, the O_PATH fds a fop holds for a moment) live in <see cref="Reserve"/>.
/// </remarks>
internal static class FdBudget
{
    private static readonly List<DirFdCache> s_caches = [];   // guarded by itself
    private static int s_open, s_cached;
    private static long s_shed, s_retried;

    /// <summary>The soft RLIMIT_NOFILE when storage/posix first started in this process (.NET raises it to the hard limit at start-up).</summary>
    public static int Limit { get; } = ReadLimit();

    /// <summary>Room kept for everything that is not an open file or a cached directory fd.</summary>
    public static int Reserve => Math.Max(64, Limit / 8);

    /// <summary>The most fds directory caches may hold: a fraction of the limit, so open files keep the rest.</summary>
    public static int CacheShare => Math.Max(16, Limit / 8);

    /// <summary>OS fds held for clients' open files and directories, by every storage/posix in the process.</summary>
    public static int OpenFiles => Volatile.Read(ref s_open);

    /// <summary>Directory fds held by the caches.</summary>
    public static int Cached => Volatile.Read(ref s_cached);

    /// <summary>Cached fds closed early because open files needed the room.</summary>
    public static long Shed => Interlocked.Read(ref s_shed);

    /// <summary>Opens that failed with EMFILE/ENFILE and were tried again after shedding.</summary>
    public static long Retried => Interlocked.Read(ref s_retried);

    /// <summary>Open files and cached fds together have reached the limit minus the reserve: caches give way.</summary>
    public static bool UnderPressure => OpenFiles + Cached > Limit - Reserve;

    public static void FileOpened()
    {
        if (Interlocked.Increment(ref s_open) + Cached > Limit - Reserve) ShedAll(toFree: Cached);
    }

    public static void FileClosed() => Interlocked.Decrement(ref s_open);

    public static void CacheTook() => Interlocked.Increment(ref s_cached);

    public static void CacheClosed(int n = 1) => Interlocked.Add(ref s_cached, -n);

    public static void Register(DirFdCache c) { lock (s_caches) s_caches.Add(c); }

    public static void Unregister(DirFdCache c) { lock (s_caches) s_caches.Remove(c); }

    /// <summary>Closes up to <paramref name="toFree"/> idle cached fds (least recently used first) across every cache; returns how many.</summary>
    public static int ShedAll(int toFree)
    {
        DirFdCache[] caches;
        lock (s_caches) caches = [.. s_caches];
        int n = 0;
        foreach (var c in caches)
        {
            if (n >= toFree) break;
            n += c.ShedIdle(toFree - n);
        }
        if (n > 0) Interlocked.Add(ref s_shed, n);
        return n;
    }

    /// <summary>
    /// openat; when the process (EMFILE) or the system (ENFILE) is out of descriptors, sheds every
    /// idle cached directory fd and tries once more. On failure errno is openat's.
    /// </summary>
    public static unsafe int OpenAt(int dirFd, byte* path, int flags, uint mode = 0)
    {
        int fd = Libc.openat(dirFd, path, flags, mode);
        if (fd >= 0) return fd;
        int err = Libc.Errno();
        if (err is not ((int)Errno.EMFILE or (int)Errno.ENFILE) || ShedAll(int.MaxValue) == 0)
        {
            Marshal.SetLastPInvokeError(err);
            return -1;
        }
        Interlocked.Increment(ref s_retried);
        return Libc.openat(dirFd, path, flags, mode);
    }

    private static unsafe int ReadLimit()
    {
        RLimit r;
        if (Libc.getrlimit(Libc.RLIMIT_NOFILE, &r) != 0 || r.Cur == 0) return 1024;
        return (int)Math.Min(r.Cur, int.MaxValue);
    }
}
