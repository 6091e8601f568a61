namespace Graft.Core;

// The fop list: the one place a fop is declared (docs/dev/adding-a-fop.md). Each [Fop] method's
// body is generated (src/Graft.FopGen): it passes to the first child unless a translator overrides
// it; a translator with no children must override every fop it supports (the rest answer ENOSYS).
// The same declarations give FopKind, debug/faults' overrides, the wire opcode (the number) and the
// wire layout of the request's arguments and the reply's values (FopRequest/FopReply field names).
public abstract partial class Translator
{
    // ---- entries and attributes ----

    /// <summary>Resolves a name in a directory, or an object by GFID when <see cref="Loc.IsNameless"/>.</summary>
    [Fop(1, Request = "Loc", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null);

    [Fop(2, Request = "Loc", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc);

    [Fop(3, Request = "Fd", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd);

    /// <summary>Changes mode, owner, size, atime, mtime as <see cref="SetAttr.Valid"/> says; returns the new attributes.</summary>
    [Fop(4, Request = "Loc Attr", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr);

    [Fop(5, Request = "Fd Attr", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr);

    /// <summary>access(2): <paramref name="mask"/> is R_OK(4)|W_OK(2)|X_OK(1), or F_OK(0).</summary>
    [Fop(6, Request = "Loc Flags")]
    public virtual partial ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask);

    [Fop(7, Request = "Loc", Reply = "Text")]
    public virtual partial ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc);

    // ---- namespace: the caller picks the new object's GFID, so a retried call is idempotent ----

    [Fop(8, Request = "Loc Mode Rdev Umask NewGfid", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid);

    [Fop(9, Request = "Loc Mode Umask NewGfid", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid);

    [Fop(10, Request = "Loc")]
    public virtual partial ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc);

    [Fop(11, Request = "Loc")]
    public virtual partial ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc);

    [Fop(12, Request = "Name Loc Umask NewGfid", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid);

    /// <summary>rename with RENAME_NOREPLACE / RENAME_EXCHANGE; returns the moved object's attributes.</summary>
    [Fop(13, Request = "Loc Loc2 Flags", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags);

    /// <summary>Makes <paramref name="newLoc"/> another name of <paramref name="oldLoc"/>.</summary>
    [Fop(14, Request = "Loc Loc2", Reply = "Iatt")]
    public virtual partial ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc);

    // ---- files ----

    /// <summary>Creates and opens <paramref name="loc"/> into <paramref name="fd"/> (whose inode the caller made for <paramref name="gfid"/>).</summary>
    [Fop(15, Request = "Loc Flags Mode Umask NewGfid", Reply = "Iatt Fd")]
    public virtual partial ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd);

    [Fop(16, Request = "Loc Flags", Reply = "Fd")]
    public virtual partial ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd);

    /// <summary>Reads into <paramref name="buffer"/>; returns the bytes read (0 at end of file).</summary>
    [Fop(17, Request = "Fd Offset Size", Reply = "Bulk")]
    public virtual partial ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> (ignored for O_APPEND fds); returns bytes written.</summary>
    [Fop(18, Request = "Fd Offset Bulk", Reply = "Value")]
    public virtual partial ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset);

    /// <summary>What close(2) sends: releases the caller's POSIX locks on the file. Never used for migration.</summary>
    [Fop(19, Request = "Fd")]
    public virtual partial ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd);

    [Fop(20, Request = "Fd DataOnly")]
    public virtual partial ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly);

    [Fop(21, Request = "Fd Offset Fd2 Offset2 Length Flags", Reply = "Value")]
    public virtual partial ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags);

    /// <summary>fallocate(2) modes (FALLOC_FL_*); a mode the brick filesystem lacks gives EOPNOTSUPP.</summary>
    [Fop(22, Request = "Fd Flags Offset Length")]
    public virtual partial ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length);

    /// <summary>SEEK_DATA (3) / SEEK_HOLE (4) and the plain whences.</summary>
    [Fop(23, Request = "Fd Offset Flags", Reply = "Value")]
    public virtual partial ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence);

    /// <summary>POSIX byte-range locks (and flock with <see cref="FileLock.Flock"/>).</summary>
    [Fop(24, Request = "Fd Flags Lock", Reply = "Lock")]
    public virtual partial ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk);

    /// <summary>
    /// Moves every lock held and every lock request waiting through <paramref name="from"/> to
    /// <paramref name="to"/>, an fd of the same file opened on a newer graph of the same mount,
    /// without releasing anything in between (DESIGN invariant 4). Returns how many moved.
    /// <paramref name="from"/> belongs to another graph: a translator maps each fd with its own
    /// context and passes both on.
    /// </summary>
    [Fop(40, Request = "Fd Instance Fd2", Reply = "Value")]
    public virtual partial ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to);

    /// <summary>
    /// A client (mount identity) is gone from a server for good: protocol/server calls it at the
    /// top of the brick graph once the last session of that mount has ended. Translators that keep
    /// state per mount (features/locks: its locks and waiting requests) drop it; the default
    /// passes it to every child.
    /// </summary>
    public virtual void ClientGone(Guid mountId)
    {
        foreach (var c in Children) c.ClientGone(mountId);
    }

    /// <summary>
    /// One session of a mount ended on a server for good (clean goodbye, or its reconnect grace
    /// passed): protocol/server calls it at the top of the brick graph, before
    /// <see cref="ClientGone"/> when it was the mount's last. features/locks drops the domain locks
    /// (inodelk, entrylk) taken through it. The default passes it to every child.
    /// </summary>
    public virtual void SessionGone(Guid mountId, Guid session)
    {
        foreach (var c in Children) c.SessionGone(mountId, session);
    }

    // ---- directories ----

    [Fop(25, Request = "Loc", Reply = "Fd")]
    public virtual partial ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd);

    /// <summary>Entries from cookie <paramref name="offset"/> (0 = start), at most <paramref name="maxEntries"/>; empty at the end.</summary>
    [Fop(26, Request = "Fd Offset Size", Reply = "Entries")]
    public virtual partial ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries);

    /// <summary>As readdir, with each entry's attributes filled in.</summary>
    [Fop(27, Request = "Fd Offset Size", Reply = "Entries")]
    public virtual partial ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries);

    [Fop(28, Request = "Fd DataOnly")]
    public virtual partial ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly);

    [Fop(29, Request = "Loc", Reply = "Vfs")]
    public virtual partial ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc);

    // ---- extended attributes (XATTR_CREATE = 1, XATTR_REPLACE = 2) ----

    [Fop(30, Request = "Loc Name Data Flags")]
    public virtual partial ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags);

    [Fop(31, Request = "Loc Name", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name);

    [Fop(32, Request = "Loc", Reply = "Names")]
    public virtual partial ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc);

    [Fop(33, Request = "Loc Name")]
    public virtual partial ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name);

    [Fop(34, Request = "Fd Name Data Flags")]
    public virtual partial ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags);

    [Fop(35, Request = "Fd Name", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name);

    [Fop(36, Request = "Fd", Reply = "Names")]
    public virtual partial ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd);

    [Fop(37, Request = "Fd Name")]
    public virtual partial ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name);

    /// <summary>
    /// xattrop: adds <paramref name="deltas"/> — signed 64-bit big-endian counters, one after
    /// another — to the counters kept in xattr <paramref name="name"/> (an absent xattr counts as
    /// zeros) in one atomic step on the brick, and returns the new value. Two adds to one object
    /// never lose one another. A value of another length than <paramref name="deltas"/> is EINVAL.
    /// Cluster translators keep pending-operation counts this way.
    /// </summary>
    [Fop(41, Request = "Loc Name Data", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas);

    // ---- domain locks: what cluster translators lock their transactions with (features/locks) ----

    /// <summary>
    /// inodelk: takes (<see cref="DomainLockCmd.Lock"/>, or <see cref="DomainLockCmd.LockBlocking"/>
    /// waiting its turn) or drops (<see cref="DomainLockCmd.Unlock"/>) a <paramref name="type"/>
    /// (read or write) lock on bytes [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="length"/>) of the object (<paramref name="length"/> 0 = to the end) in the lock
    /// domain <paramref name="domain"/>. Domains are independent of one another and of POSIX (lk)
    /// locks. The owner is the caller's (<see cref="FopContext.MountId"/>, <see cref="FopContext.LockOwner"/>).
    /// A conflict answers EAGAIN when not blocking; a blocking wait past the brick's bound answers
    /// EAGAIN too. Bricks with no features/locks answer ENOSYS.
    /// </summary>
    [Fop(42, Request = "Loc Name Flags Flags2 Offset Length")]
    public virtual partial ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length);

    /// <summary>
    /// entrylk: takes or drops a <paramref name="type"/> lock on the entry <paramref name="name"/> of
    /// directory <paramref name="parent"/> (null: on the whole directory, which conflicts with every
    /// entry lock in it) in lock domain <paramref name="domain"/>. Commands, owner, conflicts and
    /// answers as for <see cref="InodeLkAsync"/>.
    /// </summary>
    [Fop(43, Request = "Loc Name Name2 Flags Flags2")]
    public virtual partial ValueTask<Errno> EntryLkAsync(FopContext ctx, Loc parent, string domain, string? name, DomainLockCmd cmd, LockType type);

    /// <summary>
    /// inodelk and xattrop in one request, for a transaction's lock and counters: with
    /// <see cref="DomainLockCmd.Lock"/> or <see cref="DomainLockCmd.LockBlocking"/> the lock is taken as
    /// <see cref="InodeLkAsync"/> takes it and, once granted, <paramref name="deltas"/> are added to xattr
    /// <paramref name="name"/> as <see cref="XattropAsync"/> adds them (the pre-op made under the lock);
    /// if that add fails, the lock is given back and the add's error answered, so an error always means
    /// nothing is held. With <see cref="DomainLockCmd.Unlock"/> the add is made first (the post-op), then
    /// the lock given back whatever the add answered. The answer is the add's (the new counters). A brick
    /// with no features/locks, or a protocol/client whose brick did not grant it at the handshake, answers
    /// ENOSYS without doing anything: make the two calls instead.
    /// </summary>
    [Fop(44, Request = "Loc Name Flags Flags2 Offset Length Name2 Data", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                         string? name, ReadOnlyMemory<byte> deltas);

    /// <summary>
    /// create, with the new file's inodelk and xattrop in the same request, for a transaction that begins
    /// with the file (replicate's write window on a file it creates): the lock <paramref name="lk"/> (its type,
    /// range — length 0 to the end — and owner, with the caller's mount) in domain <paramref name="domain"/> on
    /// <paramref name="gfid"/> is taken without waiting before the file is made, so no other client can lock
    /// the file before its creator; then the create as <see cref="CreateAsync"/> makes it; then, once it is
    /// made, <paramref name="deltas"/> are added to xattr <paramref name="name"/> as
    /// <see cref="XattropAsync"/> adds them (the pre-op, made as root for a trusted caller). The answer is the
    /// create's; when it is OK, <see cref="LockedCreate.Lock"/> says whether the lock is held and the add
    /// landed (OK), or why not (EAGAIN: the lock was busy — a retried create of a file that exists —, or the
    /// add's error): then nothing is held. A failed create holds nothing. A brick with no features/locks, or
    /// a protocol/client whose brick did not grant it at the handshake, answers ENOSYS without doing
    /// anything: make the create alone.
    /// </summary>
    [Fop(45, Request = "Loc Flags Mode Umask NewGfid Name Lock Name2 Data", Reply = "Iatt Fd Value")]
    public virtual partial ValueTask<Result<LockedCreate>> CreateInodeLkXattropAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd,
                                                                                     string domain, FileLock lk, string name, ReadOnlyMemory<byte> deltas);

    /// <summary>
    /// The end of a transaction and of an fd in one request: the post-op and unlock of
    /// <see cref="InodeLkXattropAsync"/> with <see cref="DomainLockCmd.Unlock"/> on <paramref name="fd"/>'s
    /// object (the add, then the lock given back whatever the add answered; the owner is the caller's), then
    /// the fd's release, as <see cref="ReleaseAsync"/> (the caller never names it again). The answer is the
    /// add's; whatever it is, the fd is released. ENOSYS (no features/locks on the brick, or a
    /// protocol/client whose brick did not grant it at the handshake) means nothing was done, the fd
    /// included: make the two calls and release it.
    /// </summary>
    [Fop(46, Request = "Fd Name Flags2 Offset Length Name2 Data", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> ReleaseInodeLkXattropAsync(FopContext ctx, Fd fd, string domain, LockType type, long start, long length,
                                                                                string name, ReadOnlyMemory<byte> deltas);

    /// <summary>
    /// fxattrop: <see cref="XattropAsync"/> on <paramref name="fd"/>'s object, through the open fd (GlusterFS's
    /// fxattrop). On a brick the object is not looked up again by its handle: features/locks makes a created
    /// file's pre-op and a released fd's post-op this way. ENOSYS where nothing below implements it: make the
    /// xattrop on the fd's object instead.
    /// </summary>
    [Fop(47, Request = "Fd Name Data", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas);

    /// <summary>
    /// <see cref="InodeLkXattropAsync"/> on <paramref name="fd"/>'s object, its add made through the open fd as
    /// <see cref="FxattropAsync"/> makes it (the lock is the object's, as by a loc). protocol/server makes a
    /// release-inodelk-xattrop's post-op and unlock with it before it drops the fd. ENOSYS (no features/locks)
    /// means nothing was done.
    /// </summary>
    [Fop(48, Request = "Fd Name Flags Flags2 Offset Length Name2 Data", Reply = "Bytes")]
    public virtual partial ValueTask<Result<byte[]>> FinodeLkXattropAsync(FopContext ctx, Fd fd, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                          string? name, ReadOnlyMemory<byte> deltas);

    // ---- end of life: not errors, each translator drops its own state then passes on ----

    /// <summary>The fd's last reference is gone (file).</summary>
    [Fop(38, Request = "Fd")]
    public virtual partial ValueTask ReleaseAsync(Fd fd);

    /// <summary>The fd's last reference is gone (directory).</summary>
    [Fop(39, Request = "Fd")]
    public virtual partial ValueTask ReleasedirAsync(Fd fd);

    /// <summary>The inode left its table; drop any context kept for it.</summary>
    public virtual void Forget(Inode inode) { }

}
