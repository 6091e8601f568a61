using Graft.Core;

namespace Graft.Xlators.Features.Upcall;

// Looks (lookup, stat, open, readdirp, reads, xattr reads) remember the caller; changes notify the others once
// they succeeded, before their reply leaves the brick. xattrop is left alone: its counters are cluster
// translators' bookkeeping, not anything a client caches.
public sealed partial class UpcallTranslator
{
    public override async ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        var r = await FirstChild!.LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
        // The parent too, found or not: the kernel caches a name's absence as well as its presence.
        if (loc.Name is not null) Look(ctx.Upcalls, ParentOf(loc));
        if (r.Ok) Look(ctx.Upcalls, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
    {
        var r = await FirstChild!.StatAsync(ctx, loc).ConfigureAwait(false);
        if (r.Ok) Look(ctx.Upcalls, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
    {
        var r = await FirstChild!.FstatAsync(ctx, fd).ConfigureAwait(false);
        if (r.Ok) Look(ctx.Upcalls, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
    {
        var e = await FirstChild!.OpenAsync(ctx, loc, flags, fd).ConfigureAwait(false);
        if (e == Errno.OK)
        {
            // O_TRUNC changed the size: the others' cached size and pages are stale.
            if ((flags & OpenFlags.O_TRUNC) != 0) InodeChanged(ctx, fd.Inode.Gfid, data: true);
            else Look(ctx.Upcalls, fd.Inode.Gfid);
        }
        return e;
    }

    public override async ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
    {
        var e = await FirstChild!.OpendirAsync(ctx, loc, fd).ConfigureAwait(false);
        if (e == Errno.OK) Look(ctx.Upcalls, fd.Inode.Gfid);
        return e;
    }

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        // The directory before it is read: a name added after the read but before a look taken afterwards would reach
        // the reader neither in the listing nor as a notice (a client may keep a whole listing: performance/nl-cache).
        Look(ctx.Upcalls, fd.Inode.Gfid);
        var r = await FirstChild!.ReaddirpAsync(ctx, fd, offset, maxEntries).ConfigureAwait(false);
        if (r.Ok && ctx.Upcalls is { } sink)
        {
            // READDIRPLUS hands the kernel every entry's attributes to cache, and the names under the directory.
            foreach (var d in r.Value) if (!d.Gfid.IsZero && d.Name is not "." and not "..") Look(sink, d.Gfid);
        }
        return r;
    }

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        // As readdirp: the names under the directory, watched from before they are read.
        Look(ctx.Upcalls, fd.Inode.Gfid);
        return FirstChild!.ReaddirAsync(ctx, fd, offset, maxEntries);
    }

    public override async ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        var r = await FirstChild!.ReadvAsync(ctx, fd, buffer, offset).ConfigureAwait(false);
        if (r.Ok) Look(ctx.Upcalls, fd.Inode.Gfid);
        return r;
    }

    public override async ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
    {
        var r = await FirstChild!.GetxattrAsync(ctx, loc, name).ConfigureAwait(false);
        Look(ctx.Upcalls, GfidOf(loc));
        return r;
    }

    public override async ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
    {
        var r = await FirstChild!.ListxattrAsync(ctx, loc).ConfigureAwait(false);
        Look(ctx.Upcalls, GfidOf(loc));
        return r;
    }

    // ---- changes to one object ----

    public override async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        var r = await FirstChild!.SetattrAsync(ctx, loc, attr).ConfigureAwait(false);
        if (r.Ok) InodeChanged(ctx, r.Value.Gfid, (attr.Valid & SetAttrValid.Size) != 0);
        return r;
    }

    public override async ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        var r = await FirstChild!.FsetattrAsync(ctx, fd, attr).ConfigureAwait(false);
        if (r.Ok) InodeChanged(ctx, fd.Inode.Gfid, (attr.Valid & SetAttrValid.Size) != 0);
        return r;
    }

    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        var r = await FirstChild!.WritevAsync(ctx, fd, data, offset).ConfigureAwait(false);
        if (r.Ok) InodeChanged(ctx, fd.Inode.Gfid, data: true);
        return r;
    }

    public override async ValueTask<Errno> FallocateAsync(FopContext ctx, Fd fd, int mode, long offset, long length)
    {
        var e = await FirstChild!.FallocateAsync(ctx, fd, mode, offset, length).ConfigureAwait(false);
        if (e == Errno.OK) InodeChanged(ctx, fd.Inode.Gfid, data: true);
        return e;
    }

    public override async ValueTask<Result<long>> CopyFileRangeAsync(FopContext ctx, Fd fdIn, long offIn, Fd fdOut, long offOut, long length, uint flags)
    {
        var r = await FirstChild!.CopyFileRangeAsync(ctx, fdIn, offIn, fdOut, offOut, length, flags).ConfigureAwait(false);
        if (r.Ok) InodeChanged(ctx, fdOut.Inode.Gfid, data: true);
        return r;
    }

    public override async ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
    {
        var e = await FirstChild!.SetxattrAsync(ctx, loc, name, value, flags).ConfigureAwait(false);
        if (e == Errno.OK) InodeChanged(ctx, GfidOf(loc), data: false);
        return e;
    }

    public override async ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
    {
        var e = await FirstChild!.RemovexattrAsync(ctx, loc, name).ConfigureAwait(false);
        if (e == Errno.OK) InodeChanged(ctx, GfidOf(loc), data: false);
        return e;
    }

    public override async ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
    {
        var e = await FirstChild!.FsetxattrAsync(ctx, fd, name, value, flags).ConfigureAwait(false);
        if (e == Errno.OK) InodeChanged(ctx, fd.Inode.Gfid, data: false);
        return e;
    }

    public override async ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
    {
        var e = await FirstChild!.FremovexattrAsync(ctx, fd, name).ConfigureAwait(false);
        if (e == Errno.OK) InodeChanged(ctx, fd.Inode.Gfid, data: false);
        return e;
    }

    // ---- changes to names ----

    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var r = await FirstChild!.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
        if (r.Ok) NameAdded(ctx, loc, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
    {
        var r = await FirstChild!.MknodAsync(ctx, loc, mode, rdev, umask, gfid).ConfigureAwait(false);
        if (r.Ok) NameAdded(ctx, loc, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
    {
        // The new directory is watched for its maker from before it exists: a client that takes it to be empty
        // (performance/nl-cache) hears of the first name anyone else adds, however soon. (The GFID is the client's choice.)
        Look(ctx.Upcalls, gfid);
        var r = await FirstChild!.MkdirAsync(ctx, loc, mode, umask, gfid).ConfigureAwait(false);
        if (r.Ok) NameAdded(ctx, loc, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
    {
        var r = await FirstChild!.SymlinkAsync(ctx, target, loc, umask, gfid).ConfigureAwait(false);
        if (r.Ok) NameAdded(ctx, loc, r.Value.Gfid);
        return r;
    }

    public override async ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        var r = await FirstChild!.LinkAsync(ctx, oldLoc, newLoc).ConfigureAwait(false);
        if (r.Ok)
        {
            EntryChanged(ctx, newLoc);
            InodeChanged(ctx, r.Value.Gfid, data: false); // its link count
        }
        return r;
    }

    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        var gfid = GfidOf(loc);
        var e = await FirstChild!.UnlinkAsync(ctx, loc).ConfigureAwait(false);
        if (e == Errno.OK) NameRemoved(ctx, loc, gfid);
        return e;
    }

    public override async ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc)
    {
        var gfid = GfidOf(loc);
        var e = await FirstChild!.RmdirAsync(ctx, loc).ConfigureAwait(false);
        if (e == Errno.OK) NameRemoved(ctx, loc, gfid);
        return e;
    }

    public override async ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        var replaced = GfidOf(newLoc);
        var r = await FirstChild!.RenameAsync(ctx, oldLoc, newLoc, flags).ConfigureAwait(false);
        if (r.Ok)
        {
            EntryChanged(ctx, oldLoc);
            EntryChanged(ctx, newLoc);
            InodeChanged(ctx, r.Value.Gfid, data: false); // its ctime (and a directory's "..")
            if (!replaced.IsZero && replaced != r.Value.Gfid) NameRemoved(ctx, default, replaced);
        }
        return r;
    }

    private void NameAdded(FopContext ctx, in Loc loc, Gfid created)
    {
        EntryChanged(ctx, loc);
        Look(ctx.Upcalls, created);
    }

    /// <summary>A name went: its directory's watchers drop it; the object's drop its attributes (the link count).</summary>
    private void NameRemoved(FopContext ctx, in Loc loc, Gfid gfid)
    {
        if (loc.Name is not null) EntryChanged(ctx, loc);
        if (gfid.IsZero) return;
        InodeChanged(ctx, gfid, data: false);
    }
}
