using Graft.Core;

namespace Graft.Fuse.Raw;

/// <summary>
/// What the kernel may ask of a filesystem, one method per opcode, with the request's arguments already
/// parsed. Each method must answer its request exactly once through the request's Reply* helpers
/// (ReplyError for failures) — from any thread, before or after its task completes. If the task
/// completes without a reply the session answers EIO. Names and payloads (ReadOnlyMemory) point into the
/// request buffer and are valid until the task completes; names carry no trailing NUL.
/// The defaults answer ENOSYS, which the kernel remembers for the connection: override every operation
/// the filesystem supports, and never answer ENOSYS for a transient failure.
/// </summary>
public interface IFuseFileSystem
{
    /// <summary>INIT has been negotiated; requests follow.</summary>
    void Initialized(FuseConnectionInfo connection) { }

    /// <summary>DESTROY (sent on clean unmount of some mount types) or the connection ended.</summary>
    void Destroyed() { }

    /// <summary>The handler of <paramref name="r"/> is done (its task completed and it was answered) and the pooled
    /// object is about to be reused: what the filesystem keeps in <see cref="FuseRequest.UserState"/> must let go of
    /// anything it should not keep alive while the object sits in the pool. Runs once per request; must not throw.</summary>
    void RequestDone(FuseRequest r) { }

    /// <summary>Which lock requests this filesystem serves: <see cref="FuseInitFlags.PosixLocks"/> (fcntl and OFD
    /// locks: GETLK, SETLK, SETLKW) and <see cref="FuseInitFlags.FlockLocks"/> (flock(2): SETLK/SETLKW with
    /// <see cref="FuseConst.LkFlock"/>). Asked for at INIT only if listed here; without them the kernel keeps
    /// locks to itself, so they work between processes of this machine but no further.</summary>
    FuseInitFlags LockCapabilities => FuseInitFlags.None;

    /// <summary>True when the filesystem itself clears set-user-ID and set-group-ID bits as the kernel would, on a
    /// write, truncate, fallocate or chown by a caller without CAP_FSETID (HANDLE_KILLPRIV_V2 is then asked for at
    /// INIT). Otherwise the kernel asks for it with a SETATTR of the mode, made as the writer.</summary>
    bool HandlesKillPriv => false;

    ValueTask Lookup(FuseRequest r, ReadOnlyMemory<byte> name) => NotImplemented(r);

    /// <summary>FORGET and BATCH_FORGET: drop <c>NLookup</c> from each node's lookup count. No reply.</summary>
    void Forget(ReadOnlySpan<FuseForgetOne> forgets) { }

    ValueTask GetAttr(FuseRequest r, FuseGetattrIn args) => NotImplemented(r);
    ValueTask SetAttr(FuseRequest r, FuseSetattrIn args) => NotImplemented(r);
    ValueTask ReadLink(FuseRequest r) => NotImplemented(r);
    ValueTask Symlink(FuseRequest r, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> target) => NotImplemented(r);
    ValueTask Mknod(FuseRequest r, FuseMknodIn args, ReadOnlyMemory<byte> name) => NotImplemented(r);
    ValueTask Mkdir(FuseRequest r, FuseMkdirIn args, ReadOnlyMemory<byte> name) => NotImplemented(r);
    ValueTask Unlink(FuseRequest r, ReadOnlyMemory<byte> name) => NotImplemented(r);
    ValueTask Rmdir(FuseRequest r, ReadOnlyMemory<byte> name) => NotImplemented(r);

    /// <summary>RENAME and RENAME2; <paramref name="flags"/> are RENAME_NOREPLACE / RENAME_EXCHANGE (0 for RENAME).</summary>
    ValueTask Rename(FuseRequest r, ReadOnlyMemory<byte> oldName, ulong newDir, ReadOnlyMemory<byte> newName, uint flags) => NotImplemented(r);

    /// <summary>Hard link: r.NodeId is the new parent, <paramref name="oldNodeId"/> the existing node.</summary>
    ValueTask Link(FuseRequest r, ulong oldNodeId, ReadOnlyMemory<byte> newName) => NotImplemented(r);
    ValueTask Open(FuseRequest r, FuseOpenIn args) => NotImplemented(r);

    /// <summary>Fill <c>r.DataBuffer</c> (or any memory) and reply with ReplyDataBuffer / ReplyData.</summary>
    ValueTask Read(FuseRequest r, FuseReadIn args) => NotImplemented(r);
    ValueTask Write(FuseRequest r, FuseWriteIn args, ReadOnlyMemory<byte> data) => NotImplemented(r);
    ValueTask StatFs(FuseRequest r) => NotImplemented(r);
    ValueTask Release(FuseRequest r, FuseReleaseIn args) => NotImplemented(r);
    ValueTask Fsync(FuseRequest r, FuseFsyncIn args) => NotImplemented(r);
    ValueTask SetXattr(FuseRequest r, FuseSetxattrIn args, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value) => NotImplemented(r);

    /// <summary>Reply with <c>r.ReplyXattr(value)</c>: it implements the size query and ERANGE.</summary>
    ValueTask GetXattr(FuseRequest r, uint size, ReadOnlyMemory<byte> name) => NotImplemented(r);

    /// <summary>Reply with <c>r.ReplyXattr(names)</c>, names each NUL-terminated.</summary>
    ValueTask ListXattr(FuseRequest r, uint size) => NotImplemented(r);
    ValueTask RemoveXattr(FuseRequest r, ReadOnlyMemory<byte> name) => NotImplemented(r);
    ValueTask Flush(FuseRequest r, FuseFlushIn args) => NotImplemented(r);
    ValueTask OpenDir(FuseRequest r, FuseOpenIn args) => NotImplemented(r);

    /// <summary>Pack records with <c>r.CreateDirentWriter(args.Size, plus: false)</c>.</summary>
    ValueTask ReadDir(FuseRequest r, FuseReadIn args) => NotImplemented(r);

    /// <summary>Pack records with <c>r.CreateDirentWriter(args.Size, plus: true)</c>.</summary>
    ValueTask ReadDirPlus(FuseRequest r, FuseReadIn args) => NotImplemented(r);
    ValueTask ReleaseDir(FuseRequest r, FuseReleaseIn args) => NotImplemented(r);
    ValueTask FsyncDir(FuseRequest r, FuseFsyncIn args) => NotImplemented(r);
    ValueTask Access(FuseRequest r, uint mask) => NotImplemented(r);
    ValueTask Create(FuseRequest r, FuseCreateIn args, ReadOnlyMemory<byte> name) => NotImplemented(r);
    ValueTask Fallocate(FuseRequest r, FuseFallocateIn args) => NotImplemented(r);
    ValueTask Lseek(FuseRequest r, FuseLseekIn args) => NotImplemented(r);
    ValueTask CopyFileRange(FuseRequest r, FuseCopyFileRangeIn args) => NotImplemented(r);

    /// <summary>F_GETLK: reply with <c>r.ReplyLock</c> — the first conflicting lock, or F_UNLCK.</summary>
    ValueTask GetLk(FuseRequest r, FuseLkIn args) => NotImplemented(r);

    /// <summary>SETLK (<paramref name="wait"/> false) and SETLKW: set or clear a lock, fcntl or (with
    /// <see cref="FuseConst.LkFlock"/>) flock. A waiting SETLKW ends with EINTR when <c>r.CancellationToken</c>
    /// fires (INTERRUPT: a signal reached the caller) unless the lock was granted first.</summary>
    ValueTask SetLk(FuseRequest r, FuseLkIn args, bool wait) => NotImplemented(r);

    protected static ValueTask NotImplemented(FuseRequest r)
    {
        r.ReplyError(Errno.ENOSYS);
        return ValueTask.CompletedTask;
    }
}

/// <summary>What INIT settled for this connection.</summary>
public sealed record FuseConnectionInfo
{
    public uint Major { get; init; }
    public uint Minor { get; init; }
    /// <summary>Capabilities both sides agreed on.</summary>
    public FuseInitFlags Flags { get; init; }
    /// <summary>What the kernel offered.</summary>
    public FuseInitFlags KernelFlags { get; init; }
    public uint MaxWrite { get; init; }
    public uint MaxReadahead { get; init; }
    public ushort MaxPages { get; init; }
    public bool Has(FuseInitFlags f) => (Flags & f) == f;
}
