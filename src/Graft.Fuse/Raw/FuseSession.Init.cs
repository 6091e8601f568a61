using System.Runtime.InteropServices;
using Graft.Core;

namespace Graft.Fuse.Raw;

// INIT negotiation: what we ask the kernel for, and why.
public sealed unsafe partial class FuseSession
{
    /// <summary>The capabilities we want; the reply carries their intersection with what the kernel offers.</summary>
    FuseInitFlags WantedFlags()
    {
        var f =
            // Concurrent READs of one file: the layers below handle overlapping reads.
            FuseInitFlags.AsyncRead
            // open(O_TRUNC) arrives as one OPEN with O_TRUNC instead of OPEN + SETATTR(size 0): one round trip
            // fewer, and no window where another client sees the file open but not yet truncated.
            | FuseInitFlags.AtomicOTrunc
            // nodeid:generation are stable handles, so the mount can be NFS-exported; "." and ".." lookups
            // by nodeid are answered by the filesystem.
            | FuseInitFlags.ExportSupport
            // WRITEs larger than one page (up to max_write).
            | FuseInitFlags.BigWrites
            // Several clients may change a file: when a refreshed attr shows another mtime or size, the kernel
            // drops its cached pages instead of serving stale data.
            | FuseInitFlags.AutoInvalData
            // READDIRPLUS returns attributes with names (ls -l without a LOOKUP per entry); AUTO lets the kernel
            // use plain READDIR when the caller does not stat the entries.
            | FuseInitFlags.DoReaddirplus | FuseInitFlags.ReaddirplusAuto
            // Concurrent direct-I/O requests for one AIO submission.
            | FuseInitFlags.AsyncDio
            // Lookups and readdirs in one directory run in parallel; handlers are concurrency-safe.
            | FuseInitFlags.ParallelDirops
            // max_pages in init_out takes effect: 1 MiB requests instead of 128 KiB.
            | FuseInitFlags.MaxPages
            // Symlink targets never change for a given node (a new target is a new node), so the kernel may
            // cache READLINK results.
            | FuseInitFlags.CacheSymlinks
            // flags2 is read only with INIT_EXT; it carries CREATE_SUPP_GROUP.
            | FuseInitFlags.InitExt
            // Creates in a directory whose group differs from the caller's fsgid carry that group when the
            // caller is a member, so the brick can choose the new object's group without asking /proc.
            | FuseInitFlags.CreateSuppGroup;
        // HANDLE_KILLPRIV_V2: clearing set-user-ID/set-group-ID bits on write, truncate, fallocate and chown is the
        // filesystem's job (WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID and OPEN_KILL_SUIDGID say when the caller lacks
        // CAP_FSETID). Without it the kernel sends a SETATTR of the mode as the writer before the write, which a
        // filesystem that checks permissions must refuse to anyone but the owner (the write then fails with
        // EPERM), and probes security.capability with a GETXATTR first. Only for a filesystem that says it clears
        // the bits itself.
        if (_fs.HandlesKillPriv) f |= FuseInitFlags.HandleKillprivV2;
        // POSIX_LOCKS: fcntl byte-range locks (and OFD locks, which reach us as fcntl locks owned by the open
        // file) go to the filesystem as GETLK/SETLK/SETLKW, so a lock taken on one client excludes the others;
        // without it the kernel would arbitrate them on this machine only. FLOCK_LOCKS: flock(2) the same way
        // (SETLK/SETLKW with FUSE_LK_FLOCK). Asked for only when the filesystem serves them: a kernel that
        // sends lock requests nobody answers would turn every application's lock into ENOSYS.
        f |= _fs.LockCapabilities & (FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks);
        // Not asked for:
        //  WRITEBACK_CACHE — the kernel would buffer writes and own mtime/size: wrong for a file shared by
        //    several clients of a network filesystem (others would see stale sizes, close-to-open breaks).
        //  SPLICE_* — we read and write through plain buffers.
        //  POSIX_ACL, SECURITY_CTX, SETXATTR_EXT — no ACL/LSM handling yet; the 8-byte setxattr_in suffices.
        //  ABORT_ERROR — an abort and an unmount end the reader the same way; applications keep seeing ENOTCONN.
        //  NO_OPEN(DIR)_SUPPORT — every open is a real fd below.
        //  DONT_MASK — the kernel applies the umask for us.
        return f;
    }

    void HandleInit(FuseRequest r)
    {
        var args = Arg<FuseInitIn>(r.Payload);
        if (args.Major != FuseConst.KernelMajor || args.Minor < FuseConst.MinKernelMinor)
        {
            LogInitRefused(args.Major, args.Minor);
            r.ReplyError(Errno.EPROTO);
            _initDone.TrySetException(new InvalidOperationException($"kernel FUSE {args.Major}.{args.Minor} not supported"));
            return;
        }
        ulong offered = args.Flags;
        if ((offered & (ulong)FuseInitFlags.InitExt) != 0) offered |= (ulong)args.Flags2 << 32;
        var agreed = (FuseInitFlags)offered & WantedFlags();
        uint minor = Math.Min(args.Minor, FuseConst.KernelMinor);
        var o = new FuseInitOut
        {
            Major = FuseConst.KernelMajor,
            Minor = minor,
            // We never lower read-ahead here; the session raises it through sysfs afterwards if asked.
            MaxReadahead = args.MaxReadahead,
            Flags = (uint)agreed,
            Flags2 = (agreed & FuseInitFlags.InitExt) != 0 ? (uint)((ulong)agreed >> 32) : 0,
            MaxBackground = _options.MaxBackground,
            CongestionThreshold = (ushort)(_options.MaxBackground * 3 / 4),
            MaxWrite = _options.MaxWrite,
            TimeGran = 1,
            MaxPages = (agreed & FuseInitFlags.MaxPages) != 0 ? _options.MaxPages : (ushort)0,
        };
        Connection = new FuseConnectionInfo
        {
            Major = o.Major, Minor = minor, Flags = agreed, KernelFlags = (FuseInitFlags)offered,
            MaxWrite = o.MaxWrite, MaxReadahead = o.MaxReadahead, MaxPages = o.MaxPages,
        };
        _extensionsValid = minor >= 38;
        _fs.Initialized(Connection);
        // Before 7.23 init_out was 24 bytes; the kernel rejects a longer reply from older minors.
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitOut>(in o));
        r.ReplyData(minor < 23 ? bytes[..24] : bytes);
        LogInit(args.Major, args.Minor, minor, agreed);
        _initDone.TrySetResult();
    }

    /// <summary>Reads a request struct; a shorter payload (an older layout) leaves the missing tail zero.</summary>
    static T Arg<T>(ReadOnlySpan<byte> payload) where T : unmanaged
    {
        if (payload.Length >= sizeof(T)) return MemoryMarshal.Read<T>(payload);
        T value = default;
        payload.CopyTo(MemoryMarshal.AsBytes(new Span<T>(ref value)));
        return value;
    }
}
