using System.Runtime.InteropServices;

namespace Graft.Xlators.Storage.Posix.Native;

/// <summary>struct stat as glibc lays it out on x86-64 (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Stat
{
    public ulong Dev;
    public ulong Ino;
    public ulong Nlink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    private int _pad0;
    public ulong Rdev;
    public long Size;
    public long Blksize;
    public long Blocks;
    public long Atime, AtimeNsec;
    public long Mtime, MtimeNsec;
    public long Ctime, CtimeNsec;
    private long _r0, _r1, _r2;
}

/// <summary>struct statvfs on x86-64 (112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatvfsNative
{
    public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
    private int _s0, _s1, _s2, _s3, _s4, _s5;
}

/// <summary>struct timespec, for utimensat.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TimespecNative
{
    public long Sec;
    public long Nsec;
}

/// <summary>struct flock (x86-64), for OFD locks.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlockNative
{
    public short Type;
    public short Whence;
    public long Start;
    public long Len;
    public int Pid;
}

/// <summary>struct rlimit, for getrlimit.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RLimit
{
    public ulong Cur;
    public ulong Max;
}

/// <summary>
/// The libc calls storage/posix makes. Every path argument is a NUL-terminated byte string
/// relative to a directory fd; the brick never hands the kernel a path it did not build itself.
/// </summary>
internal static unsafe partial class Libc
{
    private const string C = "libc";

    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400,
        AT_EACCESS = 0x200, AT_EMPTY_PATH = 0x1000;
    public const int O_PATH = 0x200000, O_CLOEXEC = 0x80000, O_NOFOLLOW = 0x20000, O_DIRECTORY = 0x10000,
        O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NONBLOCK = 0x800;
    public const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    public const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    public const int F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    public const int RLIMIT_NOFILE = 7;

    // Raw syscall numbers (x86-64): the ones glibc either lacks or implements process-wide.
    public const long SYS_setgroups = 116, SYS_setfsuid = 122, SYS_setfsgid = 123, SYS_getdents64 = 217,
        SYS_faccessat2 = 439, SYS_fchmodat2 = 452;

    [LibraryImport(C, SetLastError = true)] public static partial int openat(int dirfd, byte* path, int flags, uint mode);
    [LibraryImport(C, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(C, SetLastError = true)] public static partial int getrlimit(int resource, RLimit* limit);
    [LibraryImport(C, SetLastError = true)] public static partial int fstatat(int dirfd, byte* path, Stat* st, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int fstat(int fd, Stat* st);
    [LibraryImport(C, SetLastError = true)] public static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport(C, SetLastError = true)] public static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);
    [LibraryImport(C, SetLastError = true)] public static partial int symlinkat(byte* target, int dirfd, byte* path);
    [LibraryImport(C, SetLastError = true)] public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);
    [LibraryImport(C, SetLastError = true)] public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);
    [LibraryImport(C, SetLastError = true)] public static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int fchmod(int fd, uint mode);
    [LibraryImport(C, SetLastError = true)] public static partial int fchown(int fd, uint uid, uint gid);
    [LibraryImport(C, SetLastError = true)] public static partial int utimensat(int dirfd, byte* path, TimespecNative* times, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int futimens(int fd, TimespecNative* times);
    [LibraryImport(C, SetLastError = true)] public static partial int truncate(byte* path, long length);
    [LibraryImport(C, SetLastError = true)] public static partial int ftruncate(int fd, long length);
    [LibraryImport(C, SetLastError = true)] public static partial nint pread(int fd, byte* buf, nuint count, long offset);
    [LibraryImport(C, SetLastError = true)] public static partial nint pwrite(int fd, byte* buf, nuint count, long offset);
    [LibraryImport(C, SetLastError = true)] public static partial int fsync(int fd);
    [LibraryImport(C, SetLastError = true)] public static partial int fdatasync(int fd);
    [LibraryImport(C, SetLastError = true)] public static partial int dup(int fd);
    [LibraryImport(C, SetLastError = true)] public static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);
    /// <summary>sync_file_range: start writeback of the range's dirty pages not yet under writeback, waiting for nothing.</summary>
    public const uint SYNC_FILE_RANGE_WRITE = 2;
    /// <summary>sync_file_range: first wait for the range's pages already under writeback.</summary>
    public const uint SYNC_FILE_RANGE_WAIT_BEFORE = 1;
    /// <summary>sync_file_range: at the end, wait for the range's pages under writeback (with WAIT_BEFORE and WRITE: the range is on disk).</summary>
    public const uint SYNC_FILE_RANGE_WAIT_AFTER = 4;
    /// <summary>Returns the error number itself (0: done), not -1 and errno.</summary>
    [LibraryImport(C)] public static partial int posix_fadvise(int fd, long offset, long len, int advice);
    /// <summary>posix_fadvise: drop the range's clean, unmapped page-cache pages (dirty ones, ones under writeback or mapped stay).</summary>
    public const int POSIX_FADV_DONTNEED = 4;
    [LibraryImport(C, SetLastError = true)] public static partial int fallocate(int fd, int mode, long offset, long len);
    [LibraryImport(C, SetLastError = true)] public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport(C, SetLastError = true)] public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);
    [LibraryImport(C, SetLastError = true)] public static partial int fstatvfs(int fd, StatvfsNative* buf);
    [LibraryImport(C, SetLastError = true)] public static partial nint getxattr(byte* path, byte* name, byte* value, nuint size);
    [LibraryImport(C, SetLastError = true)] public static partial int setxattr(byte* path, byte* name, byte* value, nuint size, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial nint listxattr(byte* path, byte* list, nuint size);
    [LibraryImport(C, SetLastError = true)] public static partial int removexattr(byte* path, byte* name);
    [LibraryImport(C, SetLastError = true)] public static partial nint fgetxattr(int fd, byte* name, byte* value, nuint size);
    [LibraryImport(C, SetLastError = true)] public static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);
    [LibraryImport(C, SetLastError = true)] public static partial int fcntl(int fd, int cmd, FlockNative* lk);
    [LibraryImport(C, SetLastError = true)] public static partial int flock(int fd, int op);
    [LibraryImport(C, SetLastError = true)] public static partial int getgroups(int size, uint* list);
    [LibraryImport(C)] public static partial uint geteuid();

    [LibraryImport(C, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall1(long nr, long a);
    [LibraryImport(C, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall2(long nr, long a, long b);
    [LibraryImport(C, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall3(long nr, long a, long b, long c);
    [LibraryImport(C, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall4(long nr, long a, long b, long c, long d);

    // Without SetLastError: the credential switch runs between a failing call and the read of its
    // errno, and must not overwrite it.
    [LibraryImport(C, EntryPoint = "syscall")] public static partial long credsyscall1(long nr, long a);
    [LibraryImport(C, EntryPoint = "syscall")] public static partial long credsyscall2(long nr, long a, long b);

    public static int getdents64(int fd, byte* buf, int size) => (int)syscall3(SYS_getdents64, fd, (long)buf, size);

    /// <summary>faccessat2 with AT_EACCESS checks against the thread's fsuid/fsgid/groups, which is what we set.</summary>
    public static int faccessat2(int dirfd, byte* path, int mode, int flags) => (int)syscall4(SYS_faccessat2, dirfd, (long)path, mode, flags);

    /// <summary>fchmodat2 (Linux 6.6+) accepts AT_EMPTY_PATH, so an O_PATH fd can be chmod-ed.</summary>
    public static int fchmodat2(int dirfd, byte* path, uint mode, int flags) => (int)syscall4(SYS_fchmodat2, dirfd, (long)path, mode, flags);

    public static int Errno() => Marshal.GetLastPInvokeError();
}
