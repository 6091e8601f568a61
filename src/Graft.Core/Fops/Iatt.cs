namespace Graft.Core;

/// <summary>A point in time as the kernel keeps it: seconds and nanoseconds since the epoch.</summary>
public readonly record struct Timespec(long Sec, uint Nsec)
{
    public static Timespec FromDateTime(DateTime t)
    {
        var ticks = t.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks;
        return new Timespec(Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rem) - (rem < 0 ? 1 : 0),
                            (uint)((rem < 0 ? rem + TimeSpan.TicksPerSecond : rem) * 100));
    }

    public DateTime ToDateTime() => DateTime.UnixEpoch.AddTicks(Sec * TimeSpan.TicksPerSecond + Nsec / 100);
}

/// <summary>File type bits of st_mode (S_IFMT).</summary>
public static class PosixMode
{
    public const uint S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000, S_IFBLK = 0x6000,
        S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFIFO = 0x1000;
    public const uint S_ISUID = 0x800, S_ISGID = 0x400, S_ISVTX = 0x200, PermMask = 0xFFF;

    public static bool IsDir(uint mode) => (mode & S_IFMT) == S_IFDIR;
    public static bool IsReg(uint mode) => (mode & S_IFMT) == S_IFREG;
    public static bool IsLnk(uint mode) => (mode & S_IFMT) == S_IFLNK;
}

/// <summary>
/// Attributes of a file (GlusterFS's iatt): the stat structure plus the GFID.
/// <see cref="Ino"/> is derived from the GFID, so it is the same on every brick.
/// </summary>
public struct Iatt
{
    public Gfid Gfid;
    public ulong Ino;
    public uint Mode;      // full st_mode: type and permission bits
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public ulong Rdev;
    public long Size;
    public long Blocks;    // 512-byte units
    public int Blksize;
    public Timespec Atime;
    public Timespec Mtime;
    public Timespec Ctime;

    public readonly uint Type => Mode & PosixMode.S_IFMT;
    public readonly bool IsDir => PosixMode.IsDir(Mode);
    public readonly bool IsReg => PosixMode.IsReg(Mode);
    public readonly bool IsSymlink => PosixMode.IsLnk(Mode);

    /// <summary>The inode number every layer reports for a GFID.</summary>
    public static ulong InoOf(Gfid g) => g.IsRoot ? 1 : (g.Lo ^ g.Hi) | 2;

    public override readonly string ToString() =>
        $"{{gfid={Gfid} mode={Convert.ToString(Mode, 8)} nlink={Nlink} uid={Uid} gid={Gid} size={Size}}}";
}

/// <summary>Which fields of a <see cref="SetAttr"/> to apply (FUSE's FATTR_* bits).</summary>
[Flags]
public enum SetAttrValid : uint
{
    None = 0, Mode = 1 << 0, Uid = 1 << 1, Gid = 1 << 2, Size = 1 << 3, Atime = 1 << 4, Mtime = 1 << 5,
    AtimeNow = 1 << 7, MtimeNow = 1 << 8, Ctime = 1 << 10,
}

/// <summary>Arguments of setattr/fsetattr: the fields named in <see cref="Valid"/> are changed.</summary>
public struct SetAttr
{
    public SetAttrValid Valid;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public long Size;
    public Timespec Atime;
    public Timespec Mtime;
    public Timespec Ctime;
}

/// <summary>statfs result.</summary>
public struct StatVfs
{
    public ulong Blocks, Bfree, Bavail, Files, Ffree;
    public uint Bsize, Frsize, NameMax;
}

/// <summary>One directory entry. <see cref="NextOffset"/> is the cookie that resumes after it.</summary>
public sealed class DirEntry
{
    public required string Name { get; init; }
    public Gfid Gfid { get; init; }
    public ulong Ino { get; init; }
    public uint Type { get; init; }       // S_IFMT bits, 0 when unknown
    public long NextOffset { get; init; }
    /// <summary>Filled by readdirp; <c>null</c> for plain readdir.</summary>
    public Iatt? Iatt { get; init; }
}

/// <summary>rename flags (renameat2).</summary>
[Flags]
public enum RenameFlags : uint { None = 0, NoReplace = 1, Exchange = 2, Whiteout = 4 }

/// <summary>Lock commands of the lk fop.</summary>
public enum LockCmd
{
    GetLk,
    SetLk,
    SetLkW,
    /// <summary>
    /// A non-blocking set that takes back a lock the caller held before its brick restarted: the
    /// only kind of lock request a brick grants during its lock grace period (features/locks).
    /// </summary>
    Reclaim,
}

/// <summary>
/// What create-inodelk-xattrop answers (<see cref="Translator.CreateInodeLkXattropAsync"/>): the new file,
/// and OK when its lock is held and its counters' add landed, else why not (then nothing is held).
/// </summary>
public readonly record struct LockedCreate(Iatt Iatt, Errno Lock);

/// <summary>Commands of the domain lock fops (inodelk, entrylk). Values are on the wire.</summary>
public enum DomainLockCmd
{
    /// <summary>Take the lock now or answer EAGAIN.</summary>
    Lock = 0,
    /// <summary>Take the lock, waiting (in FIFO order, for at most the brick's bound) behind conflicting ones.</summary>
    LockBlocking = 1,
    /// <summary>Drop the caller's lock.</summary>
    Unlock = 2,
}

/// <summary>Lock types, values as in fcntl.h.</summary>
public enum LockType : short { Read = 0, Write = 1, Unlock = 2 }

/// <summary>A POSIX byte-range lock (struct flock). <see cref="Length"/> 0 means to end of file.</summary>
public struct FileLock
{
    public LockType Type;
    public long Start;
    public long Length;
    public int Pid;
    /// <summary>Owner of the lock, opaque to everything but features/locks.</summary>
    public ulong Owner;
    /// <summary>flock(2) whole-file lock rather than an fcntl byte-range lock.</summary>
    public bool Flock;
}

/// <summary>Open flags we interpret (values as in Linux fcntl.h on x86-64).</summary>
public static class OpenFlags
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_CREAT = 0x40, O_EXCL = 0x80,
        O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DSYNC = 0x1000,
        O_DIRECT = 0x4000, O_LARGEFILE = 0x8000, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000,
        O_NOATIME = 0x40000, O_CLOEXEC = 0x80000, O_SYNC = 0x101000, O_PATH = 0x200000, O_TMPFILE = 0x410000;
}
