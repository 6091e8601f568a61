using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// Extended attributes. distribute's own (trusted.graft.*: layouts, link pointers) are never
// shown to, read by, set or removed by anything above it: they are its state, and a root
// application must not forge a layout or a pointer through the mount. On a directory a change
// goes to every copy; a read to the first.
public sealed partial class DistributeTranslator
{
    private static Errno Screen(string name, bool write) => Linkfile.IsInternal(name) ? (write ? Errno.EPERM : Errno.ENODATA) : Errno.OK;

    private static string[] Visible(string[] names) => Array.Exists(names, Linkfile.IsInternal) ? Array.FindAll(names, n => !Linkfile.IsInternal(n)) : names;

    public override async ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
    {
        if (name == FixLayoutKey) return await FixLayoutAsync(ctx, loc).ConfigureAwait(false);
        if (name == MigrateKey) return await MigrateAsync(ctx, loc, value, flags).ConfigureAwait(false);
        if (Screen(name, write: true) is var s && s != Errno.OK) return s;
        if (IsDirLoc(loc)) return await ChangingDirsAsync(loc.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => Children[i].SetxattrAsync(ctx, loc, name, value, flags))).ConfigureAwait(false);
        return await AwaitMoveAsync(ctx, loc.Inode, null,
            async () => (await OnFileAsync(ctx, loc, (c, l) => Children[c].SetxattrAsync(ctx, l, name, value, flags)).ConfigureAwait(false)).Error).ConfigureAwait(false);
    }

    /// <summary>
    /// A file's counters live on its subvolume. A directory has a copy on every subvolume, each with
    /// counters of its own that one answer could not represent: refused (EOPNOTSUPP); whoever keeps
    /// counters on directories (replicate) sits below distribute and asks each copy.
    /// </summary>
    public override async ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
    {
        if (Screen(name, write: true) is var s && s != Errno.OK) return s;
        if (IsDirLoc(loc)) return Errno.EOPNOTSUPP;
        return await AwaitMoveAsync(ctx, loc.Inode, null,
            () => OnFileAsync(ctx, loc, (c, l) => Children[c].XattropAsync(ctx, l, name, deltas))).ConfigureAwait(false);
    }

    public override async ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
    {
        if (name == LayoutKey) return await VirtualGetAsync(ctx, loc).ConfigureAwait(false);
        if (name == SubvolumeKey) return await SubvolumeOfAsync(ctx, loc).ConfigureAwait(false);
        if (Screen(name, write: false) is var s && s != Errno.OK) return s;
        if (IsDirLoc(loc)) return await OnDirReadAsync(i => Children[i].GetxattrAsync(ctx, loc, name)).ConfigureAwait(false);
        return await OnFileAsync(ctx, loc, (c, l) => Children[c].GetxattrAsync(ctx, l, name)).ConfigureAwait(false);
    }

    public override async ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
    {
        var r = IsDirLoc(loc) ? await OnDirReadAsync(i => Children[i].ListxattrAsync(ctx, loc)).ConfigureAwait(false)
                              : await OnFileAsync(ctx, loc, (c, l) => Children[c].ListxattrAsync(ctx, l)).ConfigureAwait(false);
        return r.Ok ? Visible(r.Value) : r;
    }

    public override async ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
    {
        if (Screen(name, write: true) is var s && s != Errno.OK) return s;
        if (IsDirLoc(loc)) return await ChangingDirsAsync(loc.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => Children[i].RemovexattrAsync(ctx, loc, name))).ConfigureAwait(false);
        return await AwaitMoveAsync(ctx, loc.Inode, null,
            async () => (await OnFileAsync(ctx, loc, (c, l) => Children[c].RemovexattrAsync(ctx, l, name)).ConfigureAwait(false)).Error).ConfigureAwait(false);
    }

    public override async ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
    {
        if (Screen(name, write: true) is var s && s != Errno.OK) return s;
        if (fd.GetCtx(this) is not DhtFd f) return Errno.EBADF;
        if (f.Opened is { } opened)
            return await ChangingDirsAsync(fd.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => opened[i] ? Children[i].FsetxattrAsync(ctx, fd, name, value, flags) : new(Errno.ENOENT))).ConfigureAwait(false);
        return await AwaitMoveAsync(ctx, null, null, () => Children[f.Subvol].FsetxattrAsync(ctx, fd, name, value, flags)).ConfigureAwait(false);
    }

    public override ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name)
    {
        if (Screen(name, write: false) is var s && s != Errno.OK) return new(new Result<byte[]>(s));
        return FileChild(fd) is { } c ? c.FgetxattrAsync(ctx, fd, name) : BadFd<byte[]>();
    }

    public override async ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd)
    {
        if (FileChild(fd) is not { } c) return Errno.EBADF;
        var r = await c.FlistxattrAsync(ctx, fd).ConfigureAwait(false);
        return r.Ok ? Visible(r.Value) : r;
    }

    public override async ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
    {
        if (Screen(name, write: true) is var s && s != Errno.OK) return s;
        if (fd.GetCtx(this) is not DhtFd f) return Errno.EBADF;
        if (f.Opened is { } opened)
            return await ChangingDirsAsync(fd.Inode, null, null, () => OnDirWriteAllAsync(ctx, i => opened[i] ? Children[i].FremovexattrAsync(ctx, fd, name) : new(Errno.ENOENT))).ConfigureAwait(false);
        return await AwaitMoveAsync(ctx, null, null, () => Children[f.Subvol].FremovexattrAsync(ctx, fd, name)).ConfigureAwait(false);
    }
}
