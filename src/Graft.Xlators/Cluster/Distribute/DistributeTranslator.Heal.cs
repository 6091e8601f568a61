using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Distribute;

// Directories found on some subvolumes only (a brick added, a half-done mkdir or rmdir, a brick
// that was down) are made whole on lookup: the missing copies are made with the same GFID, mode,
// owner and xattrs, and given their place in the layout. A layout that is missing or half
// written is written again. All of it as the mount's trusted identity: the user's lookup was
// judged by the subvolume that answered it.
public sealed partial class DistributeTranslator
{
    /// <summary>A directory found on <paramref name="first"/>: looks it up on every other subvolume, heals, returns merged attributes.</summary>
    private async ValueTask<Result<Iatt>> LookupDirAsync(FopContext ctx, Loc loc, Xdata? xdata, int first, Iatt found)
    {
        var others = AllBut(first);
        var got = await FanOutAsync(others, i => Children[i].LookupAsync(ctx, loc, xdata)).ConfigureAwait(false);
        var merged = found;
        int mergedBase = first; // the lowest-numbered copy's attributes, as a stat merges them (MergeDir)
        var present = new List<int> { first };
        var missing = new List<int>();
        for (int k = 0; k < others.Length; k++)
        {
            var r = got[k];
            if (r.Ok && r.Value.IsDir && r.Value.Gfid == found.Gfid)
            {
                present.Add(others[k]);
                if (others[k] < mergedBase) { merged = MergeDir(r.Value, merged); mergedBase = others[k]; }
                else merged = MergeDir(merged, r.Value);
            }
            else if (r.Ok) LogConflict(_log, Name, loc.ToString(), Children[others[k]].Name, r.Value.IsDir ? "a directory with another GFID" : "a file");
            else if (r.Error == Errno.ENOENT) missing.Add(others[k]);
        }
        var dirInode = Remember(merged, loc.Inode) is not null ? Graph?.Inodes.Find(merged.Gfid) : null;
        if (missing.Count > 0 && !loc.IsNameless)
        {
            foreach (var i in await HealCopiesAsync(ctx, loc, merged, first, missing).ConfigureAwait(false)) present.Add(i);
            await HealLayoutAsync(ctx, merged, dirInode, present).ConfigureAwait(false);
        }
        else if (CtxOf(dirInode) is not { Layout: not null } c || Environment.TickCount64 - Volatile.Read(ref c.LayoutReadAt) > _layoutRefreshMs)
            await HealLayoutAsync(ctx, merged, dirInode, present).ConfigureAwait(false);
        return merged;
    }

    /// <summary>Makes the copies on <paramref name="missing"/> like the one on <paramref name="source"/>; returns those made.</summary>
    private async Task<List<int>> HealCopiesAsync(FopContext ctx, Loc loc, Iatt dir, int source, List<int> missing)
    {
        var t = Trusted(ctx);
        var named = new Loc(default, loc.ParentGfid, loc.Name, null, loc.Parent);
        var xattrs = await UserXattrsAsync(t, source, dir.Gfid).ConfigureAwait(false);
        var made = await FanOutAsync(missing, async i =>
        {
            var r = await Children[i].MkdirAsync(t, named, dir.Mode & PosixMode.PermMask, 0, dir.Gfid).ConfigureAwait(false);
            if (!r.Ok) { LogHealFailed(_log, Name, loc.ToString(), Children[i].Name, r.Error.Name()); return false; }
            var attr = new SetAttr { Valid = SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Mode, Uid = dir.Uid, Gid = dir.Gid, Mode = dir.Mode & PosixMode.PermMask };
            await Children[i].SetattrAsync(t, Loc.Nameless(dir.Gfid), attr).ConfigureAwait(false);
            foreach (var (name, value) in xattrs)
                await Children[i].SetxattrAsync(t, Loc.Nameless(dir.Gfid), name, value, 0).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
        var done = missing.Where((_, k) => made[k]).ToList();
        if (done.Count > 0) ForgetCopies(ParentOf(loc)); // a new copy counts in its parent's copy there (nlink)
        Interlocked.Add(ref _dirsHealed, done.Count);
        return done;
    }

    /// <summary>The xattrs an application set on a copy (internal ones excluded), to give a healed copy.</summary>
    private async Task<List<(string, byte[])>> UserXattrsAsync(FopContext t, int subvol, Gfid gfid)
    {
        var result = new List<(string, byte[])>();
        var names = await Children[subvol].ListxattrAsync(t, Loc.Nameless(gfid)).ConfigureAwait(false);
        if (!names.Ok) return result;
        foreach (var n in names.Value)
        {
            if (Linkfile.IsInternal(n)) continue;
            var v = await Children[subvol].GetxattrAsync(t, Loc.Nameless(gfid), n).ConfigureAwait(false);
            if (v.Ok) result.Add((n, v.Value));
        }
        return result;
    }

    /// <summary>
    /// Reads the directory's layout from every copy and repairs it where it cannot be used:
    /// copies without an entry in a whole layout get "no range"; a directory with no layout at all
    /// (made before the volume was distributed) gets one that keeps its files where they are; a
    /// half-written one (overlaps, holes, mixed epochs) is written again over the subvolumes that
    /// had ranges, unsettled. A layout with copies that could not be read is used as it is. A repair
    /// is decided again under the directory's layout lock, on a fresh read: another client (a
    /// fix-layout) may have written the layout since this one read it.
    /// </summary>
    private async Task<Layout> HealLayoutAsync(FopContext ctx, Iatt dir, Inode? dirInode, List<int> present)
    {
        var layout = await ReadLayoutAsync(ctx, dir.Gfid, AllSubvols(), CtxOf(dirInode)?.Layout).ConfigureAwait(false);
        if (layout.HasUnknown || !IsAllUp() || !NeedsRepair(layout, present)) { RememberLayout(dir.Gfid, dirInode, layout); return layout; }
        var lctx = LayoutLockContext(ctx);
        var locked = await LayoutLockAsync(lctx, dir.Gfid, DomainLockCmd.LockBlocking).ConfigureAwait(false);
        if (locked is not (Errno.OK or Errno.ENOSYS)) { RememberLayout(dir.Gfid, dirInode, layout); return layout; } // the next use tries again
        try
        {
            layout = await ReadLayoutAsync(ctx, dir.Gfid, AllSubvols(), CtxOf(dirInode)?.Layout).ConfigureAwait(false);
            var (write, on) = layout.HasUnknown || !NeedsRepair(layout, present) ? (null, present) : await RepairOfAsync(ctx, dir, layout, present).ConfigureAwait(false);
            if (write is null) { RememberLayout(dir.Gfid, dirInode, layout); return layout; }
            await FanOutAsync(on, i => WriteLayoutAsync(ctx, i, dir.Gfid, write[i])).ConfigureAwait(false);
            Interlocked.Increment(ref _layoutsHealed);
            var fresh = await ReadLayoutAsync(ctx, dir.Gfid, AllSubvols()).ConfigureAwait(false);
            RememberLayout(dir.Gfid, dirInode, fresh);
            return fresh;
        }
        finally
        {
            if (locked == Errno.OK) await LayoutLockAsync(lctx, dir.Gfid, DomainLockCmd.Unlock).ConfigureAwait(false);
        }
    }

    private static bool NeedsRepair(Layout layout, List<int> present) =>
        layout.IsEmpty || !layout.Complete || present.Any(i => layout.Entries[i] is null);

    /// <summary>The entries to write for a layout <see cref="NeedsRepair"/> says cannot be used, and the copies to write them to.</summary>
    private async Task<(LayoutEntry[]? Write, List<int> On)> RepairOfAsync(FopContext ctx, Iatt dir, Layout layout, List<int> present)
    {
        if (layout.IsEmpty) return (await FirstLayoutAsync(ctx, dir, present).ConfigureAwait(false), present);
        if (!layout.Complete)
        {
            var members = present.Where(layout.HasRange).Order().ToList();
            if (members.Count == 0) members = [.. present.Order()];
            uint epoch = layout.Entries.Max(e => e?.Epoch ?? 0) + 1;
            LogLayoutRewritten(_log, Name, dir.Gfid, layout.ToString());
            return (Layout.Fresh(Children.Count, members, epoch, settled: false), present);
        }
        var e0 = layout.Entries.First(e => e is not null)!.Value;
        var write = new LayoutEntry[Children.Count];
        for (int i = 0; i < write.Length; i++) write[i] = layout.Entries[i] ?? new LayoutEntry(HashRange.None, e0.Epoch, e0.Settled);
        return (write, present.Where(i => layout.Entries[i] is null).ToList());
    }

    /// <summary>
    /// The first layout of a directory that has none: spread over every copy and settled when no
    /// copy holds a name; all of the hash space on the one copy that holds names (they stay where
    /// they are — subdirectories too, which exist nowhere else yet — and new names go there too
    /// until a fix-layout) and settled; otherwise spread and not settled, so that misses look
    /// everywhere until a rebalance has run.
    /// </summary>
    private async Task<LayoutEntry[]> FirstLayoutAsync(FopContext ctx, Iatt dir, List<int> present)
    {
        var members = present.Order().ToList();
        var hasNames = await FanOutAsync(members, i => HasEntriesAsync(ctx, i, dir)).ConfigureAwait(false);
        var withNames = members.Where((_, k) => hasNames[k]).ToList();
        if (withNames.Count == 0) return Layout.Fresh(Children.Count, members, 1, settled: true);
        if (withNames.Count == 1) return Layout.Fresh(Children.Count, withNames, 1, settled: true);
        return Layout.Fresh(Children.Count, members, 1, settled: false);
    }

    private async ValueTask<bool> HasEntriesAsync(FopContext ctx, int subvol, Iatt dir)
    {
        bool found = false;
        await ListCopyAsync(Trusted(ctx), subvol, dir, e =>
        {
            if (e.Name is "." or "..") return true;
            found = true;
            return false;
        }).ConfigureAwait(false);
        return found;
    }

    /// <summary>
    /// Reads one copy of a directory from the start, entry by entry, while <paramref name="each"/>
    /// returns true. Internal work (emptiness checks, heals): the caller passes a trusted context.
    /// </summary>
    private async ValueTask<Errno> ListCopyAsync(FopContext t, int subvol, Iatt dir, Func<DirEntry, bool> each)
    {
        var table = Graph?.Inodes;
        if (table is null) return Errno.EIO;
        var inode = table.Link(default, null, dir);
        var fd = new Fd(inode, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        table.Unref(inode);
        try
        {
            var e = await Children[subvol].OpendirAsync(t, Loc.Of(inode), fd).ConfigureAwait(false);
            if (e != Errno.OK) return e;
            try
            {
                long off = 0;
                while (true)
                {
                    var r = await Children[subvol].ReaddirpAsync(t, fd, off, 256).ConfigureAwait(false);
                    if (!r.Ok) return r.Error;
                    if (r.Value.Count == 0) return Errno.OK;
                    foreach (var d in r.Value)
                    {
                        if (!each(d)) return Errno.OK;
                        off = d.NextOffset;
                    }
                }
            }
            finally { await Children[subvol].ReleasedirAsync(fd).ConfigureAwait(false); }
        }
        finally { fd.Unref(); }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: {Loc} on {Subvol} is {What}; left as it is")]
    private static partial void LogConflict(ILogger log, string name, string loc, string subvol, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: could not heal directory {Loc} on {Subvol}: {Error}")]
    private static partial void LogHealFailed(ILogger log, string name, string loc, string subvol, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name}: layout of {Gfid} was not whole ({Layout}); written again, unsettled")]
    private static partial void LogLayoutRewritten(ILogger log, string name, Gfid gfid, string layout);
}
