using System.Text;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Distribute;

// Making and removing names. A new file, special file or symlink goes to the subvolume its name
// hashes to; a directory to every subvolume, the hashed one first so that a conflict fails before
// anything is made; rmdir removes the other copies first and the hashed one last, so a half-done
// rmdir leaves a directory that lookup heals rather than orphans nobody finds.
public sealed partial class DistributeTranslator
{
    /// <summary>
    /// The subvolume a new <paramref name="loc"/> goes to, with the parent's layout read again if
    /// older than layout-refresh. In a directory whose layout is not settled a name may already
    /// exist off its hashed subvolume: <paramref name="existing"/> then gets what a lookup finds.
    /// A name hashed to a decommissioned subvolume (a layout the drain has not rewritten yet) goes to
    /// another one, with a link pointer where it hashes (<paramref name="pointerAt"/>; else -1).
    /// </summary>
    private async ValueTask<(int Subvol, int PointerAt, Layout Layout, Result<Iatt> Existing)> PlaceAsync(FopContext ctx, Loc loc)
    {
        var layout = await LayoutOfAsync(ctx, loc.ParentGfid, loc.Parent, _layoutRefreshMs).ConfigureAwait(false);
        int s = PlaceName(layout, loc.Name!);
        if (IsDecommissioned(s))
        {
            layout = await LayoutOfAsync(ctx, loc.ParentGfid, loc.Parent, 0).ConfigureAwait(false);
            s = PlaceName(layout, loc.Name!);
        }
        Result<Iatt> existing = Errno.ENOENT;
        if (s >= 0 && LookEverywhereOnMiss(layout)) existing = await LookupAsync(ctx, loc).ConfigureAwait(false);
        if (!IsDecommissioned(s)) return (s, -1, layout, existing);
        var others = Enumerable.Range(0, Children.Count).Where(i => !IsDecommissioned(i) && layout.Entries[i] is not null).ToArray();
        if (others.Length == 0) return (s, -1, layout, existing);
        // The name must not be taken where it hashes: a settled directory's create would have found it there.
        if (!existing.Ok && !LookEverywhereOnMiss(layout)) existing = await Children[s].LookupAsync(ctx, Named(loc)).ConfigureAwait(false);
        if (existing.Ok && Linkfile.Suspect(existing.Value)) existing = await LookupAsync(ctx, loc).ConfigureAwait(false);
        return (others[DhtHash.OfName(loc.Name!) % (uint)others.Length], s, layout, existing);
    }

    /// <summary>After a new name was made on <paramref name="s"/> off its hashed subvolume: its pointer there, or the name undone.</summary>
    private async ValueTask<Errno> PointToDivertedAsync(FopContext ctx, Loc loc, int s, int pointerAt, Iatt made)
    {
        if (pointerAt < 0) return Errno.OK;
        var e = await MakePointerAsync(ctx, pointerAt, loc, made, s).ConfigureAwait(false);
        if (e != Errno.OK) await Children[s].UnlinkAsync(Trusted(ctx), Named(loc)).ConfigureAwait(false);
        return e;
    }

    private static Errno NoPlace(Layout layout) => layout.HasUnknown ? Errno.ENOTCONN : Errno.EIO;

    // The parent's attributes it hands up are merged over the copies (DistributeTranslator.ParentAttrs.cs).
    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        ctx.PostParent = null;
        var r = await AwaitMoveAsync(ctx, loc.Inode, null, () => CreateOnceAsync(ctx, loc, flags, mode, umask, gfid, fd)).ConfigureAwait(false);
        if (!r.Ok) ctx.PostParent = null;
        return r;
    }

    private async ValueTask<Result<Iatt>> CreateOnceAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var (s, pointerAt, layout, existing) = await PlaceAsync(ctx, loc).ConfigureAwait(false);
        if (s < 0) return NoPlace(layout);
        if (existing.Ok)
        {
            // The name is there, off its hashed subvolume: answer with it (the caller opens it).
            if ((flags & OpenFlags.O_EXCL) != 0) return Errno.EEXIST;
            return existing.Value.IsDir ? Errno.EISDIR : existing;
        }
        var dir = ParentOf(loc);
        long gen = BeginCopies(dir);
        var r = await Children[s].CreateAsync(ctx, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
        // With a link pointer made where the name hashes, a second copy changed: forget them, hand up nothing.
        if (pointerAt >= 0) { ForgetCopies(dir); ctx.PostParent = null; }
        else ctx.PostParent = r.Ok ? MergedParent(dir, gen, s, ctx.PostParent) : null;
        if (r.Ok && r.Value.Gfid == gfid && await PointToDivertedAsync(ctx, loc, s, pointerAt, r.Value).ConfigureAwait(false) is var pe && pe != Errno.OK)
        {
            await Children[s].ReleaseAsync(fd).ConfigureAwait(false);
            return pe;
        }
        if (r.Ok)
        {
            fd.SetCtx(this, new DhtFd(s));
            if (!Linkfile.Suspect(r.Value) || r.Value.Gfid == gfid) { RememberFile(r.Value, fd.Inode.Gfid == r.Value.Gfid ? fd.Inode : null, s); return r; }
            // It opened an existing link pointer: the file is elsewhere, and the caller opens that.
            var real = await LookupAsync(ctx, loc).ConfigureAwait(false);
            return real.Ok ? real : r;
        }
        // A pointer owned by the mount refuses the caller; an existing name refuses O_EXCL. Say what is there.
        if (r.Error == Errno.EACCES && (flags & OpenFlags.O_EXCL) == 0)
        {
            var real = await LookupAsync(ctx, loc).ConfigureAwait(false);
            if (real.Ok && !real.Value.IsDir && !Linkfile.Suspect(real.Value)) return real;
        }
        return r;
    }

    public override ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid) =>
        ChangingDirsAsync(ParentOf(loc), null, null, () => NewNameAsync(ctx, loc, s => Children[s].MknodAsync(ctx, loc, mode, rdev, umask, gfid)));

    public override ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid) =>
        ChangingDirsAsync(ParentOf(loc), null, null, () => NewNameAsync(ctx, loc, s => Children[s].SymlinkAsync(ctx, target, loc, umask, gfid)));

    /// <summary>A special file or symlink: made on the subvolume its name hashes to (EEXIST if the name is anywhere).</summary>
    private async ValueTask<Result<Iatt>> NewNameAsync(FopContext ctx, Loc loc, Func<int, ValueTask<Result<Iatt>>> make)
    {
        var (s, pointerAt, layout, existing) = await PlaceAsync(ctx, loc).ConfigureAwait(false);
        if (s < 0) return NoPlace(layout);
        if (existing.Ok) return Errno.EEXIST;
        var r = await make(s).ConfigureAwait(false);
        if (r.Ok && await PointToDivertedAsync(ctx, loc, s, pointerAt, r.Value).ConfigureAwait(false) is var pe && pe != Errno.OK) return pe;
        if (r.Ok) RememberFile(r.Value, null, s);
        return r;
    }

    /// <summary>
    /// On the hashed subvolume first (EEXIST, EACCES, ENOTCONN there fail the call with nothing
    /// made), then on the others at once with the same GFID; then every copy gets its layout
    /// entry: the hash space split over the subvolumes that have a copy, settled.
    /// </summary>
    public override ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid) =>
        ChangingDirsAsync(ParentOf(loc), null, null, () => MakeDirAsync(ctx, loc, mode, umask, gfid));

    private async ValueTask<Result<Iatt>> MakeDirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
    {
        var (s, _, layout, existing) = await PlaceAsync(ctx, loc).ConfigureAwait(false);
        if (s < 0) return NoPlace(layout);
        if (existing.Ok) return Errno.EEXIST;
        var r = await Children[s].MkdirAsync(ctx, loc, mode, umask, gfid).ConfigureAwait(false);
        if (!r.Ok) return r;
        var others = AllBut(s);
        var got = await FanOutAsync(others, i => Children[i].MkdirAsync(ctx, loc, mode, umask, gfid)).ConfigureAwait(false);
        var members = new List<int> { s };
        for (int k = 0; k < others.Length; k++)
        {
            if (got[k].Ok) members.Add(others[k]);
            else if (got[k].Error != Errno.ENOTCONN) LogHealFailed(_log, Name, loc.ToString(), Children[others[k]].Name, got[k].Error.Name());
        }
        members.Sort();
        var entries = Layout.Fresh(Children.Count, LayoutMembers(members), 1, settled: true);
        await FanOutAsync(members, i => WriteLayoutAsync(ctx, i, gfid, entries[i])).ConfigureAwait(false);
        var unknown = Enumerable.Range(0, Children.Count).Select(i => !members.Contains(i) && !IsUp(i)).ToArray();
        var mine = new LayoutEntry?[Children.Count];
        foreach (var i in members) mine[i] = entries[i];
        var dir = Graph?.Inodes is { } table ? table.Find(gfid) : null;
        if (Remember(r.Value, dir) is { } c) { c.Layout = new Layout(mine, unknown); Volatile.Write(ref c.LayoutReadAt, Environment.TickCount64); }
        return r;
    }

    /// <summary>
    /// ENOTEMPTY when any copy holds a name (link pointers left without their file do not count,
    /// and are removed), ENOTCONN when a copy cannot be checked; then the other copies, then the
    /// hashed one. A copy that turns out not empty after others were removed gets them back.
    /// </summary>
    public override ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc) =>
        ChangingDirsAsync(ParentOf(loc), loc.Inode, null, () => RemoveDirAsync(ctx, loc));

    private async ValueTask<Errno> RemoveDirAsync(FopContext ctx, Loc loc)
    {
        var layout = await LayoutOfAsync(ctx, loc.ParentGfid, loc.Parent, long.MaxValue).ConfigureAwait(false);
        int hashed = PlaceName(layout, loc.Name!);
        var found = await LookupAsync(ctx, loc).ConfigureAwait(false);
        if (!found.Ok) return found.Error;
        if (!found.Value.IsDir) return Errno.ENOTDIR;
        var dir = found.Value;
        if (hashed < 0) hashed = 0;
        var all = AllSubvols();
        var t = Trusted(ctx);
        var stale = new List<(int Subvol, string Name, Gfid Gfid)>();
        var checks = await FanOutAsync(all, async i =>
        {
            var names = new List<(string, Iatt?)>();
            var e = await ListCopyAsync(t, i, dir, d =>
            {
                if (d.Name is not ("." or "..")) names.Add((d.Name, d.Iatt));
                return names.Count < 64;
            }).ConfigureAwait(false);
            return (e, names);
        }).ConfigureAwait(false);
        bool notEmpty = false;
        for (int i = 0; i < all.Length && !notEmpty; i++)
        {
            var (e, names) = checks[i];
            if (e == Errno.ESTALE || e == Errno.ENOENT) continue; // no copy there
            if (e != Errno.OK) return e;
            foreach (var (n, iatt) in names)
            {
                if (iatt is not { } ia || !Linkfile.Suspect(ia) || await PointerTargetAsync(ctx, i, Loc.Child(dir.Gfid, n)).ConfigureAwait(false) == -1)
                { notEmpty = true; break; }
                stale.Add((i, n, ia.Gfid));
            }
        }
        if (notEmpty)
        {
            // The check ran as the mount: a caller who may not remove names here learns no more than rmdir(2) tells.
            var may = await Children[hashed].AccessAsync(ctx, Loc.Nameless(loc.ParentGfid), 3).ConfigureAwait(false);
            return may == Errno.OK ? Errno.ENOTEMPTY : may;
        }
        foreach (var (i, n, _) in stale) await Children[i].UnlinkAsync(t, Loc.Child(dir.Gfid, n)).ConfigureAwait(false);
        var others = AllBut(hashed);
        var got = await FanOutAsync(others, i => Children[i].RmdirAsync(ctx, loc)).ConfigureAwait(false);
        var removed = others.Where((_, k) => got[k] == Errno.OK).ToList();
        var failed = others.Select((i, k) => got[k]).FirstOrDefault(e => e is not (Errno.OK or Errno.ENOENT));
        if (failed == Errno.OK)
        {
            failed = await Children[hashed].RmdirAsync(ctx, loc).ConfigureAwait(false);
            if (failed is Errno.OK or Errno.ENOENT) return Errno.OK;
        }
        // Put back what was removed: the directory stays whole, as it was.
        if (removed.Count > 0)
        {
            var source = all.FirstOrDefault(i => !removed.Contains(i));
            await HealCopiesAsync(ctx, loc, dir, source, removed).ConfigureAwait(false);
            await HealLayoutAsync(ctx, dir, null, [.. all]).ConfigureAwait(false);
        }
        return failed;
    }

    /// <summary>The name on the subvolume that holds its data, then its link pointer on the hashed one.</summary>
    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        ctx.PostParent = null;
        var e = await AwaitMoveAsync(ctx, loc.Inode, null, () => UnlinkOnceAsync(ctx, loc)).ConfigureAwait(false);
        if (e != Errno.OK) ctx.PostParent = null;
        return e;
    }

    private async ValueTask<Errno> UnlinkOnceAsync(FopContext ctx, Loc loc)
    {
        var layout = await LayoutOfAsync(ctx, loc.ParentGfid, loc.Parent, long.MaxValue).ConfigureAwait(false);
        int hashed = layout.Search(DhtHash.OfName(loc.Name!));
        int cached = CtxOf(loc.Inode) is { Cached: >= 0 and var c } ? c : -1;
        if (cached < 0 || cached >= Children.Count)
        {
            var found = await LookupAsync(ctx, loc).ConfigureAwait(false);
            if (!found.Ok) return found.Error;
            if (found.Value.IsDir) return Errno.EISDIR;
            cached = CtxOf(Graph?.Inodes.Find(found.Value.Gfid)) is { Cached: >= 0 and var c2 } ? c2 : hashed;
            if (cached < 0) return Errno.EIO;
        }
        var dir = ParentOf(loc);
        long gen = BeginCopies(dir);
        var e = await Children[cached].UnlinkAsync(ctx, loc).ConfigureAwait(false);
        bool pointer = e == Errno.OK && hashed >= 0 && hashed != cached;
        // With the name's link pointer removed too, a second copy changed: forget them, hand up nothing.
        if (pointer) { ForgetCopies(dir); ctx.PostParent = null; }
        else ctx.PostParent = e == Errno.OK ? MergedParent(dir, gen, cached, ctx.PostParent) : null;
        if (!pointer) return e;
        await RemovePointerAsync(ctx, hashed, loc, loc.Inode?.Gfid ?? loc.Gfid).ConfigureAwait(false);
        return Errno.OK;
    }

    /// <summary>
    /// A hard link is made where the file's data is (a link needs one filesystem); when the new
    /// name hashes elsewhere it gets a link pointer there too, as a rename would.
    /// </summary>
    public override ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc) =>
        ChangingDirsAsync(ParentOf(newLoc), null, null, () => AwaitMoveAsync(ctx, oldLoc.Inode, null, () => LinkOnceAsync(ctx, oldLoc, newLoc)));

    private async ValueTask<Result<Iatt>> LinkOnceAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        int cached = await CachedSubvolAsync(ctx, oldLoc).ConfigureAwait(false);
        if (cached < 0) return (Errno)(-cached);
        var (placed, pointerAt, layout, existing) = await PlaceAsync(ctx, newLoc).ConfigureAwait(false);
        if (placed < 0) return NoPlace(layout);
        if (existing.Ok) return Errno.EEXIST;
        // The link is made where the data is; its pointer goes where the name hashes (a drained subvolume too).
        int s = pointerAt >= 0 ? pointerAt : placed;
        var r = await Children[cached].LinkAsync(ctx, oldLoc, newLoc).ConfigureAwait(false);
        if (!r.Ok || s == cached) return r;
        var e = await MakePointerAsync(ctx, s, newLoc, r.Value, cached).ConfigureAwait(false);
        if (e != Errno.OK)
        {
            await Children[cached].UnlinkAsync(ctx, newLoc).ConfigureAwait(false);
            return e;
        }
        return r;
    }

    /// <summary>
    /// Makes a link pointer to <paramref name="file"/> (data on <paramref name="target"/>) named
    /// <paramref name="loc"/> on <paramref name="subvol"/>, owned like the file. EEXIST when the
    /// name is taken there by anything but a pointer of the same file.
    /// </summary>
    private async ValueTask<Errno> MakePointerAsync(FopContext ctx, int subvol, Loc loc, Iatt file, int target)
    {
        var t = Trusted(ctx);
        var named = new Loc(default, loc.ParentGfid, loc.Name, null, loc.Parent);
        var r = await Children[subvol].MknodAsync(t, named, Linkfile.Mode, 0, 0, file.Gfid).ConfigureAwait(false);
        if (r.Error == Errno.EEXIST)
        {
            // A brick holds one object per GFID: another name of this file (a hard link) may already
            // have its pointer there. The new name becomes a hard link of that pointer.
            var there = await Children[subvol].LookupAsync(t, Loc.Nameless(file.Gfid)).ConfigureAwait(false);
            if (!there.Ok || !Linkfile.Suspect(there.Value) || await PointerTargetAsync(ctx, subvol, Loc.Nameless(file.Gfid)).ConfigureAwait(false) != target)
                return Errno.EEXIST;
            var l = await Children[subvol].LinkAsync(t, Loc.Nameless(file.Gfid), named).ConfigureAwait(false);
            if (l.Ok) Interlocked.Increment(ref _pointersCreated);
            return l.Error;
        }
        if (!r.Ok) return r.Error;
        if (r.Value.Gfid != file.Gfid || !Linkfile.Suspect(r.Value) || r.Value.Size != 0) return Errno.EEXIST;
        var e = await Children[subvol].SetxattrAsync(t, named, Linkfile.Xattr, Encoding.UTF8.GetBytes(Children[target].Name), 0).ConfigureAwait(false);
        if (e != Errno.OK) return e;
        await Children[subvol].SetattrAsync(t, named, new SetAttr { Valid = SetAttrValid.Uid | SetAttrValid.Gid, Uid = file.Uid, Gid = file.Gid }).ConfigureAwait(false);
        Interlocked.Increment(ref _pointersCreated);
        return Errno.OK;
    }

    /// <summary>Removes the name on <paramref name="subvol"/> if it is a link pointer (of <paramref name="gfid"/>, when known).</summary>
    private async ValueTask RemovePointerAsync(FopContext ctx, int subvol, Loc loc, Gfid gfid)
    {
        var t = Trusted(ctx);
        var named = new Loc(default, loc.ParentGfid, loc.Name, null, loc.Parent);
        var r = await Children[subvol].LookupAsync(t, named).ConfigureAwait(false);
        if (!r.Ok || !Linkfile.Suspect(r.Value) || (!gfid.IsZero && r.Value.Gfid != gfid)) return;
        if (await PointerTargetAsync(ctx, subvol, named).ConfigureAwait(false) == -1) return;
        await Children[subvol].UnlinkAsync(t, named).ConfigureAwait(false);
    }

    /// <summary>
    /// The subvolume holding the data of the file <paramref name="loc"/> names (by its inode, else
    /// found by lookup); a negative errno when it cannot be found.
    /// </summary>
    private async ValueTask<int> CachedSubvolAsync(FopContext ctx, Loc loc)
    {
        if (CtxOf(loc.Inode) is { Cached: >= 0 and var c } && c < Children.Count) return c;
        var gfid = loc.Inode?.Gfid ?? loc.Gfid;
        var r = gfid.IsZero ? await LookupAsync(ctx, loc).ConfigureAwait(false)
                            : await LookupByGfidAsync(ctx, Loc.Nameless(gfid), null).ConfigureAwait(false);
        if (!r.Ok) return -(int)r.Error;
        return CtxOf(Graph?.Inodes.Find(r.Value.Gfid)) is { Cached: >= 0 and var c2 } ? c2 : -(int)Errno.EIO;
    }
}
