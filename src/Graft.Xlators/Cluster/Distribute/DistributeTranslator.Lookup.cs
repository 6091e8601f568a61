using System.Text;
using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// lookup: by name on the hashed subvolume (following a link pointer), everywhere on a miss when
// the directory may hold misplaced names; directories on every subvolume (healing missing
// copies); by GFID on the subvolume last seen holding it, else on all at once.
public sealed partial class DistributeTranslator
{
    public override async ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        if (loc.IsNameless) return await LookupByGfidAsync(ctx, loc, xdata).ConfigureAwait(false);
        var layout = await LayoutOfAsync(ctx, loc.ParentGfid, loc.Parent, long.MaxValue).ConfigureAwait(false);
        int hashed = layout.Search(DhtHash.OfName(loc.Name!));
        if (hashed < 0) return await LookupEverywhereAsync(ctx, loc, xdata, -1, layout).ConfigureAwait(false);
        var r = await Children[hashed].LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
        if (r.Ok)
        {
            if (r.Value.IsDir) return await LookupDirAsync(ctx, loc, xdata, hashed, r.Value).ConfigureAwait(false);
            if (Linkfile.Suspect(r.Value)) return await FollowPointerAsync(ctx, loc, xdata, hashed, r.Value, layout).ConfigureAwait(false);
            RememberFile(r.Value, loc.Inode, hashed);
            return r;
        }
        if (r.Error == Errno.ENOTCONN || (r.Error == Errno.ENOENT && LookEverywhereOnMiss(layout)))
            return await LookupEverywhereAsync(ctx, loc, xdata, hashed, layout, r.Error).ConfigureAwait(false);
        return r;
    }

    /// <summary>A suspected link pointer on <paramref name="hashed"/>: the file it names, wherever it is now.</summary>
    private async ValueTask<Result<Iatt>> FollowPointerAsync(FopContext ctx, Loc loc, Xdata? xdata, int hashed, Iatt ptr, Layout layout)
    {
        int target = await PointerTargetAsync(ctx, hashed, loc.WithTarget(ptr.Gfid)).ConfigureAwait(false);
        if (target == -1)
        {
            // No linkto xattr: an application's own empty 01000 file, or a pointer being made right now.
            var elsewhere = await LookupEverywhereAsync(ctx, loc, xdata, hashed, layout, Errno.ENOENT, makePointer: false).ConfigureAwait(false);
            if (elsewhere.Ok && elsewhere.Value.Gfid == ptr.Gfid) return elsewhere;
            RememberFile(ptr, loc.Inode, hashed);
            return ptr;
        }
        if (target >= 0)
        {
            var r = await Children[target].LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
            if (r.Ok && !r.Value.IsDir && !Linkfile.Suspect(r.Value))
            {
                RememberFile(r.Value, loc.Inode, target);
                return r;
            }
            if (r.Error == Errno.ENOTCONN) return r.Error;
        }
        // A stale pointer (the file moved on, or its target is unknown here): look for the name.
        return await LookupEverywhereAsync(ctx, loc, xdata, hashed, layout, Errno.ENOENT, makePointer: false).ConfigureAwait(false);
    }

    /// <summary>
    /// The subvolume a pointer names: its index; -1 when the object has no linkto xattr (not a
    /// pointer); -2 when it names no subvolume of this graph or cannot be read.
    /// </summary>
    private async ValueTask<int> PointerTargetAsync(FopContext ctx, int subvol, Loc loc)
    {
        var x = await Children[subvol].GetxattrAsync(Trusted(ctx), loc, Linkfile.Xattr).ConfigureAwait(false);
        if (x.Ok) return IndexOfName(Encoding.UTF8.GetString(x.Value)) is var i and >= 0 ? i : -2;
        return x.Error == Errno.ENODATA ? -1 : -2;
    }

    /// <summary>
    /// A name not where its hash says: asks every other subvolume at once. A directory found is
    /// looked up (and healed) as one; a file found gets a link pointer on the hashed subvolume (so
    /// the next lookup is one round trip) when the layout is whole. Nothing found is ENOENT, or
    /// ENOTCONN when a subvolume that could hold it did not answer.
    /// </summary>
    private async ValueTask<Result<Iatt>> LookupEverywhereAsync(FopContext ctx, Loc loc, Xdata? xdata, int hashed, Layout layout,
                                                                Errno hashedError = Errno.ENOENT, bool makePointer = true)
    {
        Interlocked.Increment(ref _lookupsEverywhere);
        var others = AllBut(hashed);
        var got = await FanOutAsync(others, i => Children[i].LookupAsync(ctx, loc, xdata)).ConfigureAwait(false);
        bool unreachable = hashedError == Errno.ENOTCONN || (hashed < 0 && layout.HasUnknown);
        int fileAt = -1, dirAt = -1;
        Errno denied = Errno.OK;
        for (int k = 0; k < others.Length; k++)
        {
            var r = got[k];
            if (!r.Ok)
            {
                if (r.Error == Errno.ENOTCONN) unreachable = true;
                else if (r.Error != Errno.ENOENT && denied == Errno.OK) denied = r.Error;
                continue;
            }
            if (r.Value.IsDir) { if (dirAt < 0) dirAt = k; continue; }
            if (Linkfile.Suspect(r.Value) && await PointerTargetAsync(ctx, others[k], loc.WithTarget(r.Value.Gfid)).ConfigureAwait(false) != -1)
                continue; // a pointer; its file is found by name where it is
            if (fileAt < 0) fileAt = k;
        }
        if (dirAt >= 0) return await LookupDirAsync(ctx, loc, xdata, others[dirAt], got[dirAt].Value).ConfigureAwait(false);
        if (fileAt >= 0)
        {
            var iatt = got[fileAt].Value;
            int at = others[fileAt];
            RememberFile(iatt, loc.Inode, at);
            if (makePointer && hashed >= 0 && hashedError == Errno.ENOENT && layout.Complete)
                await MakePointerAsync(ctx, hashed, loc, iatt, at).ConfigureAwait(false);
            return iatt;
        }
        if (denied != Errno.OK) return denied;
        return unreachable ? Errno.ENOTCONN : Errno.ENOENT;
    }

    /// <summary>By GFID: the subvolume last seen holding it, else every subvolume at once (a directory merges all copies).</summary>
    private async ValueTask<Result<Iatt>> LookupByGfidAsync(FopContext ctx, Loc loc, Xdata? xdata)
    {
        var known = CtxOf(loc.Inode) ?? CtxOf(Graph?.Inodes.Find(loc.Gfid));
        if (known is { Cached: >= 0 and var c } && c < Children.Count)
        {
            var r = await Children[c].LookupAsync(ctx, loc, xdata).ConfigureAwait(false);
            if (r.Ok && !r.Value.IsDir && !Linkfile.Suspect(r.Value)) return r;
            if (r.Error == Errno.ENOTCONN) return r;
        }
        var all = AllSubvols();
        var got = await FanOutAsync(all, i => Children[i].LookupAsync(ctx, loc, xdata)).ConfigureAwait(false);
        Iatt? dir = null, file = null, suspect = null;
        int fileAt = -1, suspectAt = -1;
        bool unreachable = false;
        Errno other = Errno.OK;
        for (int i = 0; i < got.Length; i++)
        {
            var r = got[i];
            if (!r.Ok)
            {
                if (r.Error == Errno.ENOTCONN) unreachable = true;
                else if (r.Error is not (Errno.ENOENT or Errno.ESTALE) && other == Errno.OK) other = r.Error;
                continue;
            }
            if (r.Value.IsDir) { dir = dir is { } d ? MergeDir(d, r.Value) : r.Value; continue; }
            if (Linkfile.Suspect(r.Value))
            {
                if (await PointerTargetAsync(ctx, i, loc).ConfigureAwait(false) != -1) continue;
                if (suspect is null) { suspect = r.Value; suspectAt = i; }
                continue;
            }
            if (file is null) { file = r.Value; fileAt = i; }
        }
        if (dir is { } dd) { Remember(dd, loc.Inode); return dd; }
        if (file is null && suspect is not null) { file = suspect; fileAt = suspectAt; }
        if (file is { } f) { RememberFile(f, loc.Inode, fileAt); return f; }
        if (other != Errno.OK) return other;
        return unreachable ? Errno.ENOTCONN : Errno.ESTALE;
    }

    /// <summary>
    /// A directory's attributes from several copies: <paramref name="a"/>'s, with the latest times (entries
    /// land on different subvolumes, and each changes only its own copy's mtime). Every merge starts from the
    /// lowest-numbered copy that answered (stat, lookup, the postparent of DistributeTranslator.ParentAttrs.cs), so
    /// they agree: mode, owner and nlink are the same on every whole copy (chmod, chown, mkdir and rmdir reach
    /// each one; a subdirectory has a copy on every subvolume), size and blocks are that copy's.
    /// </summary>
    private static Iatt MergeDir(Iatt a, in Iatt b)
    {
        if (Later(b.Mtime, a.Mtime)) a.Mtime = b.Mtime;
        if (Later(b.Ctime, a.Ctime)) a.Ctime = b.Ctime;
        if (Later(b.Atime, a.Atime)) a.Atime = b.Atime;
        return a;
    }

    private static bool Later(Timespec x, Timespec y) => x.Sec > y.Sec || (x.Sec == y.Sec && x.Nsec > y.Nsec);
}
