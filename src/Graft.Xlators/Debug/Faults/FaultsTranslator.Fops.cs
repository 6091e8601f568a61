using Graft.Core;

namespace Graft.Xlators.Debug.Faults;

// One override per fop: a single volatile read when no fault is armed, so an idle faults layer
// costs nothing on the hot path; the closure is only made for a call that is faulted.
public sealed partial class FaultsTranslator
{
    public override ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
        => Armed && Pick(FopKind.Lookup) is { } f ? Inject<Iatt>(f, ctx, () => base.LookupAsync(ctx, loc, xdata)) : base.LookupAsync(ctx, loc, xdata);

    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Stat) is { } f ? Inject<Iatt>(f, ctx, () => base.StatAsync(ctx, loc)) : base.StatAsync(ctx, loc);

    public override ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
        => Armed && Pick(FopKind.Fstat) is { } f ? Inject<Iatt>(f, ctx, () => base.FstatAsync(ctx, fd)) : base.FstatAsync(ctx, fd);

    public override ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
        => Armed && Pick(FopKind.Setattr) is { } f ? Inject<Iatt>(f, ctx, () => base.SetattrAsync(ctx, loc, attr)) : base.SetattrAsync(ctx, loc, attr);

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
        => Armed && Pick(FopKind.Fsetattr) is { } f ? Inject<Iatt>(f, ctx, () => base.FsetattrAsync(ctx, fd, attr)) : base.FsetattrAsync(ctx, fd, attr);

    public override ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask)
        => Armed && Pick(FopKind.Access) is { } f ? InjectErrno(f, ctx, () => base.AccessAsync(ctx, loc, mask)) : base.AccessAsync(ctx, loc, mask);

    public override ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Readlink) is { } f ? Inject<string>(f, ctx, () => base.ReadlinkAsync(ctx, loc)) : base.ReadlinkAsync(ctx, loc);

    public override ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
        => Armed && Pick(FopKind.Mknod) is { } f ? Inject<Iatt>(f, ctx, () => base.MknodAsync(ctx, loc, mode, rdev, umask, gfid)) : base.MknodAsync(ctx, loc, mode, rdev, umask, gfid);

    public override ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
        => Armed && Pick(FopKind.Mkdir) is { } f ? Inject<Iatt>(f, ctx, () => base.MkdirAsync(ctx, loc, mode, umask, gfid)) : base.MkdirAsync(ctx, loc, mode, umask, gfid);

    public override ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Unlink) is { } f ? InjectErrno(f, ctx, () => base.UnlinkAsync(ctx, loc)) : base.UnlinkAsync(ctx, loc);

    public override ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Rmdir) is { } f ? InjectErrno(f, ctx, () => base.RmdirAsync(ctx, loc)) : base.RmdirAsync(ctx, loc);

    public override ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
        => Armed && Pick(FopKind.Symlink) is { } f ? Inject<Iatt>(f, ctx, () => base.SymlinkAsync(ctx, target, loc, umask, gfid)) : base.SymlinkAsync(ctx, target, loc, umask, gfid);

    public override ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
        => Armed && Pick(FopKind.Rename) is { } f ? Inject<Iatt>(f, ctx, () => base.RenameAsync(ctx, oldLoc, newLoc, flags)) : base.RenameAsync(ctx, oldLoc, newLoc, flags);

    public override ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
        => Armed && Pick(FopKind.Link) is { } f ? Inject<Iatt>(f, ctx, () => base.LinkAsync(ctx, oldLoc, newLoc)) : base.LinkAsync(ctx, oldLoc, newLoc);

    public override ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
        => Armed && Pick(FopKind.Create) is { } f ? Inject<Iatt>(f, ctx, () => base.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd)) : base.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd);

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
        => Armed && Pick(FopKind.Open) is { } f ? InjectErrno(f, ctx, () => base.OpenAsync(ctx, loc, flags, fd)) : base.OpenAsync(ctx, loc, flags, fd);

    public override ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
        => Armed && Pick(FopKind.Readv) is { } f ? Inject<int>(f, ctx, () => base.ReadvAsync(ctx, fd, buffer, offset)) : base.ReadvAsync(ctx, fd, buffer, offset);

    public override ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
        => Armed && Pick(FopKind.Writev) is { } f ? Inject<int>(f, ctx, () => base.WritevAsync(ctx, fd, data, offset)) : base.WritevAsync(ctx, fd, data, offset);

    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd)
        => Armed && Pick(FopKind.Flush) is { } f ? InjectErrno(f, ctx, () => base.FlushAsync(ctx, fd)) : base.FlushAsync(ctx, fd);

    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly)
        => Armed && Pick(FopKind.Fsync) is { } f ? InjectErrno(f, ctx, () => base.FsyncAsync(ctx, fd, dataOnly)) : base.FsyncAsync(ctx, fd, dataOnly);

    public override ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
        => Armed && Pick(FopKind.CopyFileRange) is { } f ? Inject<long>(f, ctx, () => base.CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags)) : base.CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags);

    public override ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length)
        => Armed && Pick(FopKind.Fallocate) is { } f ? InjectErrno(f, ctx, () => base.FallocateAsync(ctx, fd, mode, offset, length)) : base.FallocateAsync(ctx, fd, mode, offset, length);

    public override ValueTask<Result<long>> LseekAsync(FopContext ctx, Fd fd, long offset, int whence)
        => Armed && Pick(FopKind.Lseek) is { } f ? Inject<long>(f, ctx, () => base.LseekAsync(ctx, fd, offset, whence)) : base.LseekAsync(ctx, fd, offset, whence);

    public override ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
        => Armed && Pick(FopKind.Lk) is { } f ? Inject<FileLock>(f, ctx, () => base.LkAsync(ctx, fd, cmd, lk)) : base.LkAsync(ctx, fd, cmd, lk);

    public override ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to)
        => Armed && Pick(FopKind.RebindLocks) is { } f ? Inject<int>(f, ctx, () => base.RebindLocksAsync(ctx, from, to)) : base.RebindLocksAsync(ctx, from, to);

    public override ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
        => Armed && Pick(FopKind.Opendir) is { } f ? InjectErrno(f, ctx, () => base.OpendirAsync(ctx, loc, fd)) : base.OpendirAsync(ctx, loc, fd);

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
        => Armed && Pick(FopKind.Readdir) is { } f ? Inject<IReadOnlyList<DirEntry>>(f, ctx, () => base.ReaddirAsync(ctx, fd, offset, maxEntries)) : base.ReaddirAsync(ctx, fd, offset, maxEntries);

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
        => Armed && Pick(FopKind.Readdirp) is { } f ? Inject<IReadOnlyList<DirEntry>>(f, ctx, () => base.ReaddirpAsync(ctx, fd, offset, maxEntries)) : base.ReaddirpAsync(ctx, fd, offset, maxEntries);

    public override ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly)
        => Armed && Pick(FopKind.Fsyncdir) is { } f ? InjectErrno(f, ctx, () => base.FsyncdirAsync(ctx, fd, dataOnly)) : base.FsyncdirAsync(ctx, fd, dataOnly);

    public override ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Statfs) is { } f ? Inject<StatVfs>(f, ctx, () => base.StatfsAsync(ctx, loc)) : base.StatfsAsync(ctx, loc);

    public override ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
        => Armed && Pick(FopKind.Setxattr) is { } f ? InjectErrno(f, ctx, () => base.SetxattrAsync(ctx, loc, name, value, flags)) : base.SetxattrAsync(ctx, loc, name, value, flags);

    public override ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
        => Armed && Pick(FopKind.Getxattr) is { } f ? Inject<byte[]>(f, ctx, () => base.GetxattrAsync(ctx, loc, name)) : base.GetxattrAsync(ctx, loc, name);

    public override ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
        => Armed && Pick(FopKind.Listxattr) is { } f ? Inject<string[]>(f, ctx, () => base.ListxattrAsync(ctx, loc)) : base.ListxattrAsync(ctx, loc);

    public override ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
        => Armed && Pick(FopKind.Removexattr) is { } f ? InjectErrno(f, ctx, () => base.RemovexattrAsync(ctx, loc, name)) : base.RemovexattrAsync(ctx, loc, name);

    public override ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
        => Armed && Pick(FopKind.Fsetxattr) is { } f ? InjectErrno(f, ctx, () => base.FsetxattrAsync(ctx, fd, name, value, flags)) : base.FsetxattrAsync(ctx, fd, name, value, flags);

    public override ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name)
        => Armed && Pick(FopKind.Fgetxattr) is { } f ? Inject<byte[]>(f, ctx, () => base.FgetxattrAsync(ctx, fd, name)) : base.FgetxattrAsync(ctx, fd, name);

    public override ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd)
        => Armed && Pick(FopKind.Flistxattr) is { } f ? Inject<string[]>(f, ctx, () => base.FlistxattrAsync(ctx, fd)) : base.FlistxattrAsync(ctx, fd);

    public override ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
        => Armed && Pick(FopKind.Fremovexattr) is { } f ? InjectErrno(f, ctx, () => base.FremovexattrAsync(ctx, fd, name)) : base.FremovexattrAsync(ctx, fd, name);
}
