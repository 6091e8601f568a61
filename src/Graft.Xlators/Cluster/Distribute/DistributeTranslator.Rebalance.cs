using System.Text;
using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// What the rebalance process (a client of the volume, `graft rebalance`) asks of distribute, as
// virtual xattrs of a directory. Their names have no namespace prefix, so no kernel passes them
// from an application; they are root-only besides, and never reach a brick.
public sealed partial class DistributeTranslator
{
    /// <summary>setxattr on a directory: rewrite its layout over every subvolume (fix-layout).</summary>
    public const string FixLayoutKey = "graft.dht.fix-layout";

    /// <summary>getxattr on a directory: its layout as read now from every copy, as text.</summary>
    public const string LayoutKey = "graft.dht.layout";

    /// <summary>getxattr on a file: the name of the subvolume that holds its data (GlusterFS's pathinfo, in short).</summary>
    public const string SubvolumeKey = "graft.dht.subvolume";

    private async ValueTask<Result<byte[]>> SubvolumeOfAsync(FopContext ctx, Loc loc)
    {
        if (!ctx.IsRoot) return Errno.EPERM;
        if (IsDirLoc(loc)) return Errno.EISDIR;
        int c = await CachedSubvolAsync(ctx, loc).ConfigureAwait(false);
        return c < 0 ? (Errno)(-c) : Encoding.UTF8.GetBytes(Children[c].Name);
    }

    private async ValueTask<Result<byte[]>> VirtualGetAsync(FopContext ctx, Loc loc)
    {
        if (!ctx.IsRoot) return Errno.EPERM;
        if (!IsDirLoc(loc)) return Errno.ENOTDIR;
        var layout = await ReadLayoutAsync(ctx, loc.Inode!.Gfid, AllSubvols()).ConfigureAwait(false);
        return Encoding.UTF8.GetBytes(layout.ToString());
    }

    /// <summary>
    /// fix-layout of one directory: every subvolume must be up and hold a copy (a lookup by name
    /// made the missing ones); the hash space is split equally over all subvolumes (but those being
    /// decommissioned) with a new epoch. The directory is no longer settled — its files were placed under the old ranges —
    /// so lookups of names missing on their hashed subvolume look everywhere (and leave a link
    /// pointer) until a rebalance has moved them. A layout that already is that split is left alone.
    /// </summary>
    private async ValueTask<Errno> FixLayoutAsync(FopContext ctx, Loc loc)
    {
        if (!ctx.IsRoot) return Errno.EPERM;
        if (!IsDirLoc(loc)) return Errno.ENOTDIR;
        if (!IsAllUp()) return Errno.ENOTCONN;
        var gfid = loc.Inode!.Gfid;
        var t = Trusted(ctx);
        var all = AllSubvols();
        var copies = await FanOutAsync(all, i => Children[i].StatAsync(t, Loc.Nameless(gfid))).ConfigureAwait(false);
        if (copies.FirstOrDefault(r => !r.Ok) is { Ok: false } missing) return missing.Error == Errno.ESTALE ? Errno.EIO : missing.Error;
        // Under the layout lock: a mount healing this layout from an older read must not write over ours.
        var lctx = LayoutLockContext(ctx);
        var locked = await LayoutLockAsync(lctx, gfid, DomainLockCmd.LockBlocking).ConfigureAwait(false);
        if (locked is not (Errno.OK or Errno.ENOSYS)) return locked;
        try
        {
            var current = await ReadLayoutAsync(ctx, gfid, all).ConfigureAwait(false);
            if (current.HasUnknown) return Errno.ENOTCONN;
            var members = LayoutMembers(all);
            var even = Layout.Fresh(Children.Count, members, 0, settled: false);
            if (current.Complete && all.All(i => current.Entries[i]?.Range == even[i].Range)) return Errno.OK;
            uint epoch = current.Entries.Max(e => e?.Epoch ?? 0) + 1;
            var target = Layout.Fresh(Children.Count, members, epoch, settled: false);
            var wrote = await FanOutAsync(all, i => WriteLayoutAsync(ctx, i, gfid, target[i])).ConfigureAwait(false);
            if (wrote.FirstOrDefault(e => e != Errno.OK) is var e and not Errno.OK) return e;
            RememberLayout(gfid, loc.Inode, new Layout([.. target.Select(x => (LayoutEntry?)x)]));
            Interlocked.Increment(ref _layoutsFixed);
            return Errno.OK;
        }
        finally
        {
            if (locked == Errno.OK) await LayoutLockAsync(lctx, gfid, DomainLockCmd.Unlock).ConfigureAwait(false);
        }
    }

    /// <summary>Directories whose layout fix-layout rewrote through this translator.</summary>
    public long LayoutsFixed => Volatile.Read(ref _layoutsFixed);
    private long _layoutsFixed;
}
