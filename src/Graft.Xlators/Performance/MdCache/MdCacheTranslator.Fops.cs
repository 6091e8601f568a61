using Graft.Core;

namespace Graft.Xlators.Performance.MdCache;

// stat is answered here; create and unlink store what the brick reported for their directory; every other
// fop that changes a directory's attributes drops its entry before and after it.
public sealed partial class MdCacheTranslator
{
    public override IReadOnlyDictionary<string, long>? Counters => new Dictionary<string, long> { ["hits"] = Hits, ["stores"] = Stores };

    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc) =>
        TryCached(loc.Inode, out var a) ? new(new Result<Iatt>(a)) : FirstChild!.StatAsync(ctx, loc);

    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var dir = ParentOf(loc);
        long gen = Begin(dir);
        ctx.PostParent = null;
        var r = await FirstChild!.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
        if (r.Ok) Store(dir, gen, ctx.PostParent);
        else Invalidate(dir);
        return r;
    }

    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        var dir = ParentOf(loc);
        long gen = Begin(dir);
        ctx.PostParent = null;
        var e = await FirstChild!.UnlinkAsync(ctx, loc).ConfigureAwait(false);
        if (e == Errno.OK) Store(dir, gen, ctx.PostParent);
        else Invalidate(dir);
        return e;
    }

    public override async ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
    {
        var dir = ParentOf(loc);
        Invalidate(dir);
        try { return await FirstChild!.MknodAsync(ctx, loc, mode, rdev, umask, gfid).ConfigureAwait(false); }
        finally { Invalidate(dir); }
    }

    public override async ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
    {
        var dir = ParentOf(loc);
        Invalidate(dir);
        try { return await FirstChild!.MkdirAsync(ctx, loc, mode, umask, gfid).ConfigureAwait(false); }
        finally { Invalidate(dir); }
    }

    public override async ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc)
    {
        var dir = ParentOf(loc);
        Invalidate(dir);
        try { return await FirstChild!.RmdirAsync(ctx, loc).ConfigureAwait(false); }
        finally { Invalidate(dir); Invalidate(loc.Inode); }
    }

    public override async ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
    {
        var dir = ParentOf(loc);
        Invalidate(dir);
        try { return await FirstChild!.SymlinkAsync(ctx, target, loc, umask, gfid).ConfigureAwait(false); }
        finally { Invalidate(dir); }
    }

    public override async ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        Inode? from = ParentOf(oldLoc), to = ParentOf(newLoc);
        InvalidateAll(from, to, oldLoc.Inode, newLoc.Inode); // a moved directory's ".." changes its own attributes
        try { return await FirstChild!.RenameAsync(ctx, oldLoc, newLoc, flags).ConfigureAwait(false); }
        finally { InvalidateAll(from, to, oldLoc.Inode, newLoc.Inode); }
    }

    public override async ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        var dir = ParentOf(newLoc);
        Invalidate(dir);
        try { return await FirstChild!.LinkAsync(ctx, oldLoc, newLoc).ConfigureAwait(false); }
        finally { Invalidate(dir); }
    }

    public override async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        Invalidate(loc.Inode);
        try { return await FirstChild!.SetattrAsync(ctx, loc, attr).ConfigureAwait(false); }
        finally { Invalidate(loc.Inode); }
    }

    public override async ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        Invalidate(fd.Inode);
        try { return await FirstChild!.FsetattrAsync(ctx, fd, attr).ConfigureAwait(false); }
        finally { Invalidate(fd.Inode); }
    }

    public override async ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
    {
        Invalidate(loc.Inode);
        try { return await FirstChild!.SetxattrAsync(ctx, loc, name, value, flags).ConfigureAwait(false); }
        finally { Invalidate(loc.Inode); }
    }

    public override async ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
    {
        Invalidate(loc.Inode);
        try { return await FirstChild!.RemovexattrAsync(ctx, loc, name).ConfigureAwait(false); }
        finally { Invalidate(loc.Inode); }
    }

    public override async ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
    {
        Invalidate(fd.Inode);
        try { return await FirstChild!.FsetxattrAsync(ctx, fd, name, value, flags).ConfigureAwait(false); }
        finally { Invalidate(fd.Inode); }
    }

    public override async ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
    {
        Invalidate(fd.Inode);
        try { return await FirstChild!.FremovexattrAsync(ctx, fd, name).ConfigureAwait(false); }
        finally { Invalidate(fd.Inode); }
    }

    public override async ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
    {
        Invalidate(loc.Inode);
        try { return await FirstChild!.XattropAsync(ctx, loc, name, deltas).ConfigureAwait(false); }
        finally { Invalidate(loc.Inode); }
    }

    public override async ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas)
    {
        Invalidate(fd.Inode);
        try { return await FirstChild!.FxattropAsync(ctx, fd, name, deltas).ConfigureAwait(false); }
        finally { Invalidate(fd.Inode); }
    }

    /// <summary>Another client changed the object (or a name in the directory): its entry stops answering, and a reply
    /// in flight that was taken before the change is not stored (the generation moves).</summary>
    public override void Upcall(in UpcallNotice notice, Translator from)
    {
        if (Graph?.Inodes.Find(notice.Gfid) is { } inode) Invalidate(inode);
        NotifyUpcall(notice);
    }

    private void InvalidateAll(Inode? a, Inode? b, Inode? c, Inode? d)
    {
        Invalidate(a);
        Invalidate(b);
        Invalidate(c);
        Invalidate(d);
    }
}
