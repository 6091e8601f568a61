using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Distribute;

// rename. A file's data never moves: the rename happens on the subvolume that holds it, and the
// new name gets a link pointer on the subvolume it hashes to (the old name's pointer goes). A
// replaced target's data is removed wherever it was. A directory is renamed on every subvolume,
// the new name's hashed one first (so a refusal there leaves nothing half done).
public sealed partial class DistributeTranslator
{
    // A renamed directory's ".." changes its own attributes too.
    public override ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags) =>
        ChangingDirsAsync(ParentOf(oldLoc), ParentOf(newLoc), oldLoc.Inode is { IsDir: true } d ? d : null,
            () => AwaitMoveAsync(ctx, oldLoc.Inode, newLoc.Inode, () => RenameOnceAsync(ctx, oldLoc, newLoc, flags)));

    private async ValueTask<Result<Iatt>> RenameOnceAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        var src = await LookupAsync(ctx, oldLoc).ConfigureAwait(false);
        if (!src.Ok) return src.Error;
        var dst = await LookupAsync(ctx, newLoc).ConfigureAwait(false);
        if (!dst.Ok && dst.Error != Errno.ENOENT) return dst.Error;
        if ((flags & RenameFlags.NoReplace) != 0 && dst.Ok) return Errno.EEXIST;
        if ((flags & RenameFlags.Exchange) != 0)
            return dst.Ok ? await ExchangeAsync(ctx, oldLoc, newLoc, src.Value, dst.Value).ConfigureAwait(false) : Errno.ENOENT;
        if ((flags & RenameFlags.Whiteout) != 0) return Errno.EINVAL;
        // Two names of one file: rename(2) does nothing and succeeds.
        if (dst.Ok && dst.Value.Gfid == src.Value.Gfid) return src.Value;
        if (src.Value.IsDir) return await RenameDirAsync(ctx, oldLoc, newLoc, src.Value, dst, flags).ConfigureAwait(false);
        if (dst.Ok && dst.Value.IsDir) return Errno.EISDIR;
        return await RenameFileAsync(ctx, oldLoc, newLoc, src.Value, dst, flags).ConfigureAwait(false);
    }

    private async ValueTask<Result<Iatt>> RenameFileAsync(FopContext ctx, Loc oldLoc, Loc newLoc, Iatt src, Result<Iatt> dst, RenameFlags flags)
    {
        int c = CachedOf(src.Gfid);
        if (c < 0) return Errno.EIO;
        var oldLayout = await LayoutOfAsync(ctx, oldLoc.ParentGfid, oldLoc.Parent, long.MaxValue).ConfigureAwait(false);
        var newLayout = await LayoutOfAsync(ctx, newLoc.ParentGfid, newLoc.Parent, _layoutRefreshMs).ConfigureAwait(false);
        int h1 = oldLayout.Search(DhtHash.OfName(oldLoc.Name!)), h2 = PlaceName(newLayout, newLoc.Name!);
        if (h2 < 0) return NoPlace(newLayout);
        if (h2 != c && !IsUp(h2)) return Errno.ENOTCONN; // its link pointer could not be made
        int c2 = dst.Ok ? CachedOf(dst.Value.Gfid) : -1;
        var r = await Children[c].RenameAsync(ctx, Named(oldLoc), Named(newLoc), flags & RenameFlags.NoReplace).ConfigureAwait(false);
        if (!r.Ok) return r;
        // The replaced file's data, when it lived elsewhere: removed as the caller, so the
        // subvolume judges it (a sticky directory); if it refuses, the rename is undone.
        if (dst.Ok && c2 >= 0 && c2 != c)
        {
            var e = await Children[c2].UnlinkAsync(ctx, Named(newLoc)).ConfigureAwait(false);
            if (e is not (Errno.OK or Errno.ENOENT))
            {
                var back = await Children[c].RenameAsync(ctx, Named(newLoc), Named(oldLoc), RenameFlags.NoReplace).ConfigureAwait(false);
                if (!back.Ok) LogUndoFailed(_log, Name, oldLoc.ToString(), newLoc.ToString(), back.Error.Name());
                return e;
            }
        }
        // The old name's pointer goes first: a brick holds one object per GFID, and the new
        // name's pointer may be due on the same brick.
        if (h1 >= 0 && h1 != c && !(h1 == h2 && SameName(oldLoc, newLoc)))
            await RemovePointerAsync(ctx, h1, oldLoc, src.Gfid).ConfigureAwait(false);
        if (h2 != c)
        {
            await RemovePointerAsync(ctx, h2, newLoc, default).ConfigureAwait(false);
            var e = await MakePointerAsync(ctx, h2, newLoc, src, c).ConfigureAwait(false);
            if (e != Errno.OK) LogPointerFailed(_log, Name, newLoc.ToString(), Children[h2].Name, e.Name());
        }
        return r;
    }

    private async ValueTask<Result<Iatt>> RenameDirAsync(FopContext ctx, Loc oldLoc, Loc newLoc, Iatt src, Result<Iatt> dst, RenameFlags flags)
    {
        if (dst.Ok)
        {
            if (!dst.Value.IsDir) return Errno.ENOTDIR;
            var empty = await EmptyEverywhereAsync(ctx, dst.Value).ConfigureAwait(false);
            if (empty != Errno.OK) return empty;
        }
        var newLayout = await LayoutOfAsync(ctx, newLoc.ParentGfid, newLoc.Parent, long.MaxValue).ConfigureAwait(false);
        int first = Math.Max(0, newLayout.Search(DhtHash.OfName(newLoc.Name!)));
        var r = await Children[first].RenameAsync(ctx, Named(oldLoc), Named(newLoc), flags).ConfigureAwait(false);
        if (!r.Ok) return r;
        var others = AllBut(first);
        var got = await FanOutAsync(others, i => Children[i].RenameAsync(ctx, Named(oldLoc), Named(newLoc), flags)).ConfigureAwait(false);
        for (int k = 0; k < others.Length; k++)
            if (!got[k].Ok && got[k].Error != Errno.ENOENT)
                LogCopyRenameFailed(_log, Name, oldLoc.ToString(), newLoc.ToString(), Children[others[k]].Name, got[k].Error.Name());
        return r;
    }

    /// <summary>
    /// RENAME_EXCHANGE: two directories swap on every subvolume; two files swap where their data
    /// is, which must be one subvolume (else EXDEV: an exchange cannot be done atomically across
    /// two bricks); the names' link pointers are made again for the files they now name.
    /// </summary>
    private async ValueTask<Result<Iatt>> ExchangeAsync(FopContext ctx, Loc oldLoc, Loc newLoc, Iatt a, Iatt b)
    {
        if (a.IsDir && b.IsDir)
        {
            var newLayout = await LayoutOfAsync(ctx, newLoc.ParentGfid, newLoc.Parent, long.MaxValue).ConfigureAwait(false);
            int first = Math.Max(0, newLayout.Search(DhtHash.OfName(newLoc.Name!)));
            var r = await Children[first].RenameAsync(ctx, Named(oldLoc), Named(newLoc), RenameFlags.Exchange).ConfigureAwait(false);
            if (!r.Ok) return r;
            await FanOutAsync(AllBut(first), i => Children[i].RenameAsync(ctx, Named(oldLoc), Named(newLoc), RenameFlags.Exchange)).ConfigureAwait(false);
            return r;
        }
        if (a.IsDir || b.IsDir) return Errno.EXDEV;
        int ca = CachedOf(a.Gfid), cb = CachedOf(b.Gfid);
        if (ca < 0 || ca != cb) return Errno.EXDEV;
        var x = await Children[ca].RenameAsync(ctx, Named(oldLoc), Named(newLoc), RenameFlags.Exchange).ConfigureAwait(false);
        if (!x.Ok) return x;
        var oldLayout = await LayoutOfAsync(ctx, oldLoc.ParentGfid, oldLoc.Parent, long.MaxValue).ConfigureAwait(false);
        var nl = await LayoutOfAsync(ctx, newLoc.ParentGfid, newLoc.Parent, long.MaxValue).ConfigureAwait(false);
        int h1 = oldLayout.Search(DhtHash.OfName(oldLoc.Name!)), h2 = nl.Search(DhtHash.OfName(newLoc.Name!));
        // oldLoc now names b, newLoc names a.
        if (h1 >= 0 && h1 != ca) { await RemovePointerAsync(ctx, h1, oldLoc, a.Gfid).ConfigureAwait(false); await MakePointerAsync(ctx, h1, oldLoc, b, ca).ConfigureAwait(false); }
        if (h2 >= 0 && h2 != ca) { await RemovePointerAsync(ctx, h2, newLoc, b.Gfid).ConfigureAwait(false); await MakePointerAsync(ctx, h2, newLoc, a, ca).ConfigureAwait(false); }
        return x;
    }

    /// <summary>OK when no copy of <paramref name="dir"/> holds a name other than link pointers; else ENOTEMPTY (or why it could not be told).</summary>
    private async ValueTask<Errno> EmptyEverywhereAsync(FopContext ctx, Iatt dir)
    {
        var t = Trusted(ctx);
        var all = AllSubvols();
        var res = await FanOutAsync(all, async i =>
        {
            bool full = false;
            var e = await ListCopyAsync(t, i, dir, d =>
            {
                if (d.Name is "." or "..") return true;
                if (d.Iatt is not { } ia || !Linkfile.Suspect(ia)) { full = true; return false; }
                return true;
            }).ConfigureAwait(false);
            return e is Errno.ESTALE or Errno.ENOENT ? Errno.OK : e != Errno.OK ? e : full ? Errno.ENOTEMPTY : Errno.OK;
        }).ConfigureAwait(false);
        return res.FirstOrDefault(e => e != Errno.OK);
    }

    private int CachedOf(Gfid gfid) => CtxOf(Graph?.Inodes.Find(gfid)) is { Cached: >= 0 and var c } && c < Children.Count ? c : -1;

    /// <summary>The loc by parent and name only: the target's GFID may name an object of another subvolume.</summary>
    private static Loc Named(Loc loc) => new(default, loc.ParentGfid, loc.Name, null, loc.Parent);

    private static bool SameName(Loc a, Loc b) => a.ParentGfid == b.ParentGfid && a.Name == b.Name;

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: rename {Old} -> {New} could not be undone: {Error}")]
    private static partial void LogUndoFailed(ILogger log, string name, string old, string @new, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: no link pointer for {Loc} on {Subvol}: {Error}; lookups find it by looking everywhere")]
    private static partial void LogPointerFailed(ILogger log, string name, string loc, string subvol, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: rename {Old} -> {New} failed on {Subvol}: {Error}")]
    private static partial void LogCopyRenameFailed(ILogger log, string name, string old, string @new, string subvol, string error);
}
