namespace Graft.Fuse.Raw;

/// <summary>Request opcodes of the Linux FUSE protocol (linux/fuse.h).</summary>
public enum FuseOpcode : uint
{
    Lookup = 1, Forget = 2, GetAttr = 3, SetAttr = 4, ReadLink = 5, Symlink = 6, Mknod = 8, Mkdir = 9,
    Unlink = 10, Rmdir = 11, Rename = 12, Link = 13, Open = 14, Read = 15, Write = 16, StatFs = 17,
    Release = 18, Fsync = 20, SetXattr = 21, GetXattr = 22, ListXattr = 23, RemoveXattr = 24, Flush = 25,
    Init = 26, OpenDir = 27, ReadDir = 28, ReleaseDir = 29, FsyncDir = 30, GetLk = 31, SetLk = 32,
    SetLkW = 33, Access = 34, Create = 35, Interrupt = 36, Bmap = 37, Destroy = 38, Ioctl = 39, Poll = 40,
    NotifyReply = 41, BatchForget = 42, Fallocate = 43, ReadDirPlus = 44, Rename2 = 45, Lseek = 46,
    CopyFileRange = 47, SetupMapping = 48, RemoveMapping = 49, SyncFs = 50, TmpFile = 51, Statx = 52,
}

/// <summary>INIT capability bits; bits 32..63 travel in init_in/init_out.flags2 (valid only with InitExt).</summary>
[Flags]
public enum FuseInitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0, PosixLocks = 1UL << 1, FileOps = 1UL << 2, AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4, BigWrites = 1UL << 5, DontMask = 1UL << 6, SpliceWrite = 1UL << 7,
    SpliceMove = 1UL << 8, SpliceRead = 1UL << 9, FlockLocks = 1UL << 10, HasIoctlDir = 1UL << 11,
    AutoInvalData = 1UL << 12, DoReaddirplus = 1UL << 13, ReaddirplusAuto = 1UL << 14, AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16, NoOpenSupport = 1UL << 17, ParallelDirops = 1UL << 18,
    HandleKillpriv = 1UL << 19, PosixAcl = 1UL << 20, AbortError = 1UL << 21, MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23, NoOpendirSupport = 1UL << 24, ExplicitInvalData = 1UL << 25,
    MapAlignment = 1UL << 26, Submounts = 1UL << 27, HandleKillprivV2 = 1UL << 28, SetxattrExt = 1UL << 29,
    InitExt = 1UL << 30, InitReserved = 1UL << 31,
    SecurityCtx = 1UL << 32, HasInodeDax = 1UL << 33, CreateSuppGroup = 1UL << 34, HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36, Passthrough = 1UL << 37, NoExportSupport = 1UL << 38, HasResend = 1UL << 39,
    AllowIdmap = 1UL << 40,
}

/// <summary>Assorted protocol constants (linux/fuse.h).</summary>
public static class FuseConst
{
    public const uint KernelMajor = 7;
    /// <summary>The highest minor whose layouts this code knows. The kernel here offers 7.45; nothing past
    /// 7.40 changes a struct we read or write, so we answer with min(kernel, this).</summary>
    public const uint KernelMinor = 45;
    /// <summary>Oldest minor we serve: 7.12 (2009) brought the struct sizes we read unconditionally
    /// (mknod_in umask, 40-byte read_in/write_in, 16-byte create_in).</summary>
    public const uint MinKernelMinor = 12;
    public const ulong RootId = 1;
    public const int MinReadBuffer = 8192;
    /// <summary>Interrupt requests carry the interrupted request's unique with this bit set.</summary>
    public const ulong IntReqBit = 1;
    public const uint ExtGroups = 32;

    // setattr valid bits
    public const uint FattrMode = 1 << 0, FattrUid = 1 << 1, FattrGid = 1 << 2, FattrSize = 1 << 3,
        FattrAtime = 1 << 4, FattrMtime = 1 << 5, FattrFh = 1 << 6, FattrAtimeNow = 1 << 7,
        FattrMtimeNow = 1 << 8, FattrLockOwner = 1 << 9, FattrCtime = 1 << 10, FattrKillSuidGid = 1 << 11;

    // open_out.open_flags
    public const uint FopenDirectIo = 1 << 0, FopenKeepCache = 1 << 1, FopenNonSeekable = 1 << 2,
        FopenCacheDir = 1 << 3, FopenStream = 1 << 4, FopenNoFlush = 1 << 5, FopenParallelDirectWrites = 1 << 6;

    public const uint GetattrFh = 1 << 0;
    public const uint ReleaseFlush = 1 << 0;
    public const uint FsyncFdatasync = 1 << 0;
    public const uint WriteCache = 1 << 0, WriteLockOwner = 1 << 1, WriteKillSuidGid = 1 << 2;
    /// <summary>open_in.open_flags (HANDLE_KILLPRIV_V2): an O_TRUNC open by a caller without CAP_FSETID.</summary>
    public const uint OpenKillSuidGid = 1 << 0;

    /// <summary>fuse_lk_in.lk_flags: the request is flock(2), not fcntl.</summary>
    public const uint LkFlock = 1 << 0;
    /// <summary>release_in.release_flags: the file held flocks (release_in.lock_owner names them).</summary>
    public const uint ReleaseFlockUnlock = 1 << 1;
    /// <summary>The kernel's OFFSET_MAX: a lock End of this value runs to end of file.</summary>
    public const ulong OffsetMax = long.MaxValue;
    /// <summary>Lock types in fuse_file_lock (fcntl.h values).</summary>
    public const uint FRdlck = 0, FWrlck = 1, FUnlck = 2;

    /// <summary>Notify codes: a message from the filesystem with unique 0 carries one in the error field.</summary>
    public const int NotifyInvalInode = 2;
    public const int NotifyInvalEntry = 3;
    /// <summary>7.44: every name the kernel has cached is looked up again at its next use (no body).</summary>
    public const int NotifyIncEpoch = 8;
    public const uint IncEpochMinor = 44;

    // RENAME2 flags (linux/fs.h)
    public const uint RenameNoReplace = 1 << 0, RenameExchange = 1 << 1, RenameWhiteout = 1 << 2;
}
