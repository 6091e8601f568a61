using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>What distribute keeps on an inode: where a file's data is; a directory's layout.</summary>
internal sealed class DhtInode
{
    /// <summary>Files: the subvolume that holds the data (-1: not known yet).</summary>
    public volatile int Cached = -1;
    /// <summary>Directories: the layout last read, and when (Environment.TickCount64).</summary>
    public volatile Layout? Layout;
    public long LayoutReadAt;
    /// <summary>Directories: another client changed the directory (a brick's notice: a fix-layout rewrites its layout
    /// xattrs) since the layout was last read, so it is read again at its next use. Cleared just before a read.</summary>
    public volatile bool LayoutStale;
    /// <summary>Directories: each copy's attributes as last seen (for the merged postparent), made at the first need.</summary>
    public DirCopies? Copies;
}

/// <summary>What distribute keeps on an fd: the subvolume a file is open on; the subvolumes a directory is open on.</summary>
internal sealed class DhtFd(int subvol, bool[]? opened = null)
{
    public readonly int Subvol = subvol;
    public readonly bool[]? Opened = opened;
}

// Layouts: read from every copy of a directory, cached on its inode, refreshed when they are used
// to place a new name and are older than layout-refresh.
public sealed partial class DistributeTranslator
{
    private DhtInode? CtxOf(Inode? inode) => inode?.GetCtx(this) as DhtInode;

    private DhtInode CtxFor(Inode inode) => inode.GetCtx(this) as DhtInode ?? inode.GetOrSetCtx(this, new DhtInode());

    /// <summary>
    /// The inode this graph has (or makes) for <paramref name="iatt"/>, to keep what distribute
    /// learnt about it: lookups by name get no inode from above, and the next fop on it would
    /// otherwise have to ask every subvolume again.
    /// </summary>
    private DhtInode? Remember(in Iatt iatt, Inode? known)
    {
        if (iatt.Gfid.IsZero) return null;
        if (known is not null && known.Gfid == iatt.Gfid) return CtxFor(known);
        var table = Graph?.Inodes;
        if (table is null) return null;
        var inode = table.Find(iatt.Gfid);
        if (inode is not null) return CtxFor(inode);
        inode = table.Link(default, null, iatt);
        try { return CtxFor(inode); }
        finally { table.Unref(inode); }
    }

    private void RememberFile(in Iatt iatt, Inode? known, int subvol)
    {
        if (Remember(iatt, known) is { } c) c.Cached = subvol;
    }

    private void RememberLayout(Gfid dir, Inode? known, Layout layout)
    {
        var c = known is not null && known.Gfid == dir ? CtxFor(known) : Graph?.Inodes.Find(dir) is { } i ? CtxFor(i) : null;
        if (c is null) return;
        c.Layout = layout;
        Volatile.Write(ref c.LayoutReadAt, Environment.TickCount64);
    }

    /// <summary>
    /// The layout of the directory <paramref name="dir"/> for placing or finding a name in it:
    /// the cached one when <paramref name="maxAgeMs"/> allows, else read again from every copy.
    /// </summary>
    private async ValueTask<Layout> LayoutOfAsync(FopContext ctx, Gfid dir, Inode? dirInode, long maxAgeMs)
    {
        var inode = dirInode is not null && dirInode.Gfid == dir ? dirInode : Graph?.Inodes.Find(dir);
        if (CtxOf(inode) is { Layout: { } cached } c && !c.LayoutStale && Environment.TickCount64 - Volatile.Read(ref c.LayoutReadAt) <= maxAgeMs)
            return cached;
        // Before the read: a notice that arrives during it marks the layout stale again.
        if (CtxOf(inode) is { } known) known.LayoutStale = false;
        var layout = await ReadLayoutAsync(ctx, dir, AllSubvols(), CtxOf(inode)?.Layout).ConfigureAwait(false);
        if (!layout.Complete && !layout.HasUnknown) return await HealUnlookedLayoutAsync(ctx, dir, inode).ConfigureAwait(false);
        if (inode is not null) RememberLayout(dir, inode, layout);
        return layout;
    }

    /// <summary>
    /// A directory whose layout is missing or not whole, met without a lookup by name (the root,
    /// which is never looked up; a directory known by GFID only): its copies are found by GFID
    /// and the layout healed over them. Missing copies cannot be made without a name: the next
    /// lookup by name makes them.
    /// </summary>
    private async Task<Layout> HealUnlookedLayoutAsync(FopContext ctx, Gfid dir, Inode? inode)
    {
        var t = Trusted(ctx);
        var all = AllSubvols();
        var got = await FanOutAsync(all, i => Children[i].StatAsync(t, Loc.Nameless(dir))).ConfigureAwait(false);
        var present = all.Where(i => got[i].Ok && got[i].Value.IsDir).ToList();
        if (present.Count == 0) return await ReadLayoutAsync(ctx, dir, all).ConfigureAwait(false);
        return await HealLayoutAsync(ctx, got[present[0]].Value, inode, present).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the layout xattr of every copy in <paramref name="subvols"/> (the others count as
    /// unknown). A copy that cannot be read now (its brick is down) keeps what
    /// <paramref name="previous"/> knew of it: its range did not change while nobody could write it.
    /// </summary>
    private async Task<Layout> ReadLayoutAsync(FopContext ctx, Gfid dir, IReadOnlyList<int> subvols, Layout? previous = null)
    {
        var t = Trusted(ctx);
        var entries = new LayoutEntry?[Children.Count];
        var unknown = Enumerable.Repeat(true, Children.Count).ToArray();
        var got = await FanOutAsync(subvols, i => Children[i].GetxattrAsync(t, Loc.Nameless(dir), Layout.Xattr)).ConfigureAwait(false);
        for (int k = 0; k < subvols.Count; k++)
        {
            int i = subvols[k];
            var r = got[k];
            if (r.Ok) { unknown[i] = false; if (LayoutEntry.TryParse(r.Value, out var e)) entries[i] = e; }
            else if (r.Error is Errno.ENODATA or Errno.ENOENT or Errno.ESTALE) unknown[i] = false;
        }
        if (previous is not null && previous.Entries.Count == entries.Length)
            for (int i = 0; i < entries.Length; i++)
                if (unknown[i] && !previous.IsUnknown(i)) { entries[i] = previous.Entries[i]; unknown[i] = false; }
        return new Layout(entries, unknown);
    }

    /// <summary>The inodelk domain of a directory's layout lock: held while a client reads a layout to rewrite it and writes it.</summary>
    public const string LayoutLockDomain = "graft.dht.layout";
    // Process-wide: the graphs of one process (a mount's old and new graph, two library volumes) present
    // the same mount identity, so owners counted per translator would be the same owner on the brick.
    private static long s_layoutLockOwners;

    /// <summary>A context for one layout rewrite's lock: the trusted identity with a lock owner of its own.</summary>
    private static FopContext LayoutLockContext(FopContext ctx)
    {
        var c = Trusted(ctx);
        c.LockOwner = 0x6468740000000000UL | (ulong)Interlocked.Increment(ref s_layoutLockOwners);
        return c;
    }

    /// <summary>
    /// Takes or drops the layout lock of directory <paramref name="dir"/>: on the first subvolume (as for
    /// every directory's domain locks), so every client of the volume takes the same one. A rewrite is a
    /// read, a decision and a write on every copy; two clients interleaving them (a mount's heal of a layout
    /// it read before a fix-layout wrote the new one) would leave the one written last, whatever it was
    /// based on. ENOSYS: the brick has no lock service (rewrites then go unserialised, as before).
    /// </summary>
    private ValueTask<Errno> LayoutLockAsync(FopContext lctx, Gfid dir, DomainLockCmd cmd) =>
        Children[0].InodeLkAsync(lctx, Loc.Nameless(dir), LayoutLockDomain, cmd, LockType.Write, 0, 0);

    /// <summary>Writes one copy's layout entry (as the mount: layouts are internal).</summary>
    private ValueTask<Errno> WriteLayoutAsync(FopContext ctx, int subvol, Gfid dir, LayoutEntry entry) =>
        Children[subvol].SetxattrAsync(Trusted(ctx), Loc.Nameless(dir), Layout.Xattr, entry.ToBytes(), 0);

    /// <summary>
    /// The subvolume a new name goes to: the hashed one; for a layout with a hole (a half-written
    /// layout not yet healed) one of the subvolumes that has a range, by the same hash; -1 when no
    /// copy has a range (ENOTCONN when that is because some copies could not be read).
    /// </summary>
    private static int PlaceName(Layout layout, string name)
    {
        uint h = DhtHash.OfName(name);
        int s = layout.Search(h);
        if (s >= 0 || layout.HasUnknown) return s;
        var members = Enumerable.Range(0, layout.Entries.Count).Where(layout.HasRange).ToArray();
        return members.Length == 0 ? -1 : members[h % (uint)members.Length];
    }

    private bool LookEverywhereOnMiss(Layout? layout) => _unhashed switch
    {
        Unhashed.On => true,
        Unhashed.Off => false,
        _ => layout is not { Settled: true },
    };
}
