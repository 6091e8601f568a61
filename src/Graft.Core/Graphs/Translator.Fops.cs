namespace Graft.Core;

// The complete fop set. Each passes to the first child unless a translator overrides it; a
// translator with no children must override every fop it supports (the rest answer ENOSYS).
public abstract partial class Translator
{
    // ---- entries and attributes ----

    /// <summary>Resolves a name in a directory, or an object by GFID when <see cref="Loc.IsNameless"/>.</summary>
    public virtual ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
        => FirstChild is { } c ? c.LookupAsync(ctx, loc, xdata) : NoSys<Iatt>();

    public virtual ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.StatAsync(ctx, loc) : NoSys<Iatt>();

    public virtual ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
        => FirstChild is { } c ? c.FstatAsync(ctx, fd) : NoSys<Iatt>();

    /// <summary>Changes mode, owner, size, atime, mtime as <see cref="SetAttr.Valid"/> says; returns the new attributes.</summary>
    public virtual ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
        => FirstChild is { } c ? c.SetattrAsync(ctx, loc, attr) : NoSys<Iatt>();

    public virtual ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
        => FirstChild is { } c ? c.FsetattrAsync(ctx, fd, attr) : NoSys<Iatt>();

    /// <summary>access(2): <paramref name="mask"/> is R_OK(4)|W_OK(2)|X_OK(1), or F_OK(0).</summary>
    public virtual ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask)
        => FirstChild is { } c ? c.AccessAsync(ctx, loc, mask) : NoSysE();

    public virtual ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.ReadlinkAsync(ctx, loc) : NoSys<string>();

    // ---- namespace: the caller picks the new object's GFID, so a retried call is idempotent ----

    public virtual ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
        => FirstChild is { } c ? c.MknodAsync(ctx, loc, mode, rdev, umask, gfid) : NoSys<Iatt>();

    public virtual ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
        => FirstChild is { } c ? c.MkdirAsync(ctx, loc, mode, umask, gfid) : NoSys<Iatt>();

    public virtual ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.UnlinkAsync(ctx, loc) : NoSysE();

    public virtual ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.RmdirAsync(ctx, loc) : NoSysE();

    public virtual ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
        => FirstChild is { } c ? c.SymlinkAsync(ctx, target, loc, umask, gfid) : NoSys<Iatt>();

    /// <summary>rename with RENAME_NOREPLACE / RENAME_EXCHANGE; returns the moved object's attributes.</summary>
    public virtual ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
        => FirstChild is { } c ? c.RenameAsync(ctx, oldLoc, newLoc, flags) : NoSys<Iatt>();

    /// <summary>Makes <paramref name="newLoc"/> another name of <paramref name="oldLoc"/>.</summary>
    public virtual ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
        => FirstChild is { } c ? c.LinkAsync(ctx, oldLoc, newLoc) : NoSys<Iatt>();

    // ---- files ----

    /// <summary>Creates and opens <paramref name="loc"/> into <paramref name="fd"/> (whose inode the caller made for <paramref name="gfid"/>).</summary>
    public virtual ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
        => FirstChild is { } c ? c.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd) : NoSys<Iatt>();

    public virtual ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
        => FirstChild is { } c ? c.OpenAsync(ctx, loc, flags, fd) : NoSysE();

    /// <summary>Reads into <paramref name="buffer"/>; returns the bytes read (0 at end of file).</summary>
    public virtual ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
        => FirstChild is { } c ? c.ReadvAsync(ctx, fd, buffer, offset) : NoSys<int>();

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> (ignored for O_APPEND fds); returns bytes written.</summary>
    public virtual ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
        => FirstChild is { } c ? c.WritevAsync(ctx, fd, data, offset) : NoSys<int>();

    /// <summary>What close(2) sends: releases the caller's POSIX locks on the file. Never used for migration.</summary>
    public virtual ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd)
        => FirstChild is { } c ? c.FlushAsync(ctx, fd) : NoSysE();

    public virtual ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
        => FirstChild is { } c ? c.FsyncAsync(ctx, fd, dataOnly) : NoSysE();

    public virtual ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
        => FirstChild is { } c ? c.CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags) : NoSys<long>();

    /// <summary>fallocate(2) modes (FALLOC_FL_*); a mode the brick filesystem lacks gives EOPNOTSUPP.</summary>
    public virtual ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length)
        => FirstChild is { } c ? c.FallocateAsync(ctx, fd, mode, offset, length) : NoSysE();

    /// <summary>SEEK_DATA (3) / SEEK_HOLE (4) and the plain whences.</summary>
    public virtual ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence)
        => FirstChild is { } c ? c.LseekAsync(ctx, fd, offset, whence) : NoSys<long>();

    /// <summary>POSIX byte-range locks (and flock with <see cref="FileLock.Flock"/>).</summary>
    public virtual ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
        => FirstChild is { } c ? c.LkAsync(ctx, fd, cmd, lk) : NoSys<FileLock>();

    /// <summary>
    /// Moves every lock held and every lock request waiting through <paramref name="from"/> to
    /// <paramref name="to"/>, an fd of the same file opened on a newer graph of the same mount,
    /// without releasing anything in between (DESIGN invariant 4). Returns how many moved.
    /// <paramref name="from"/> belongs to another graph: a translator maps each fd with its own
    /// context and passes both on.
    /// </summary>
    public virtual ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to)
        => FirstChild is { } c ? c.RebindLocksAsync(ctx, from, to) : NoSys<int>();

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

    // ---- directories ----

    public virtual ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
        => FirstChild is { } c ? c.OpendirAsync(ctx, loc, fd) : NoSysE();

    /// <summary>Entries from cookie <paramref name="offset"/> (0 = start), at most <paramref name="maxEntries"/>; empty at the end.</summary>
    public virtual ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
        => FirstChild is { } c ? c.ReaddirAsync(ctx, fd, offset, maxEntries) : NoSys<IReadOnlyList<DirEntry>>();

    /// <summary>As readdir, with each entry's attributes filled in.</summary>
    public virtual ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
        => FirstChild is { } c ? c.ReaddirpAsync(ctx, fd, offset, maxEntries) : NoSys<IReadOnlyList<DirEntry>>();

    public virtual ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly)
        => FirstChild is { } c ? c.FsyncdirAsync(ctx, fd, dataOnly) : NoSysE();

    public virtual ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.StatfsAsync(ctx, loc) : NoSys<StatVfs>();

    // ---- extended attributes (XATTR_CREATE = 1, XATTR_REPLACE = 2) ----

    public virtual ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
        => FirstChild is { } c ? c.SetxattrAsync(ctx, loc, name, value, flags) : NoSysE();

    public virtual ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
        => FirstChild is { } c ? c.GetxattrAsync(ctx, loc, name) : NoSys<byte[]>();

    public virtual ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
        => FirstChild is { } c ? c.ListxattrAsync(ctx, loc) : NoSys<string[]>();

    public virtual ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
        => FirstChild is { } c ? c.RemovexattrAsync(ctx, loc, name) : NoSysE();

    public virtual ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
        => FirstChild is { } c ? c.FsetxattrAsync(ctx, fd, name, value, flags) : NoSysE();

    public virtual ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name)
        => FirstChild is { } c ? c.FgetxattrAsync(ctx, fd, name) : NoSys<byte[]>();

    public virtual ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd)
        => FirstChild is { } c ? c.FlistxattrAsync(ctx, fd) : NoSys<string[]>();

    public virtual ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
        => FirstChild is { } c ? c.FremovexattrAsync(ctx, fd, name) : NoSysE();

    // ---- end of life: not errors, each translator drops its own state then passes on ----

    /// <summary>The fd's last reference is gone (file).</summary>
    public virtual ValueTask ReleaseAsync(Fd fd)
        => FirstChild is { } c ? c.ReleaseAsync(fd) : ValueTask.CompletedTask;

    /// <summary>The fd's last reference is gone (directory).</summary>
    public virtual ValueTask ReleasedirAsync(Fd fd)
        => FirstChild is { } c ? c.ReleasedirAsync(fd) : ValueTask.CompletedTask;

    /// <summary>The inode left its table; drop any context kept for it.</summary>
    public virtual void Forget(Inode inode) { }

    private static ValueTask<Result<T>> NoSys<T>() => new(new Result<T>(Errno.ENOSYS));
    private static ValueTask<Errno> NoSysE() => new(Errno.ENOSYS);
}
