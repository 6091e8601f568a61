using System.Diagnostics;
using Graft.Core;

namespace Graft.Mount;

// Fops on names and attributes: lookup, the namespace fops, attributes, links, statfs, xattrs.
public sealed partial class MountSession
{
    /// <summary>LOOKUP: resolves <paramref name="name"/> in <paramref name="parent"/>; the node gains one lookup.</summary>
    public async ValueTask<Result<NodeEntry>> LookupAsync(FopContext ctx, MountNode parent, string name)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var p = await ResolveAsync(ctx, parent, g).ConfigureAwait(false);
            if (!p.Ok) return p.Error;
            // Always by name: a cached dentry may be stale, and lookup is how we find out.
            var r = await g.Top.LookupAsync(ctx, Loc.Child(p.Value, name)).ConfigureAwait(false);
            if (!r.Ok)
            {
                if (r.Error == Errno.ENOENT) g.Inodes.Unlink(parent.Gfid, name); // the name is gone: drop a stale dentry
                return r.Error;
            }
            if (r.Value.Gfid.IsZero) return NoGfid(g, r.Value);
            // An older graph may hold acknowledged writes to this file: make them land, then ask again.
            if (await _graphs.SettleOlderAsync(r.Value.Gfid, g).ConfigureAwait(false))
            {
                r = await g.Top.LookupAsync(ctx, Loc.Child(p.Value, name)).ConfigureAwait(false);
                if (!r.Ok) return r.Error;
                if (r.Value.Gfid.IsZero) return NoGfid(g, r.Value);
            }
            Interlocked.Increment(ref _counters.Lookups);
            return new NodeEntry(LinkNode(g, parent.Gfid, name, r.Value), r.Value);
        }
        finally { lease.Dispose(); Timed(MountFop.Lookup, t0); }
    }

    /// <summary>GETATTR on a node (stat by inode).</summary>
    public async ValueTask<Result<Iatt>> GetattrAsync(FopContext ctx, MountNode node)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.StatAsync(ctx, Loc.Of(i.Value)).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Getattr, t0); }
    }

    /// <summary>SETATTR by node; use the <see cref="MountFile"/> overload when the front end names an open file.</summary>
    public async ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, MountNode node, SetAttr attr)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.SetattrAsync(ctx, Loc.Of(i.Value), attr).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Setattr, t0); }
    }

    public async ValueTask<Errno> AccessAsync(FopContext ctx, MountNode node, int mask)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.AccessAsync(ctx, Loc.Of(i.Value), mask).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Access, t0); }
    }

    public async ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, MountNode node)
    {
        if (!PosixMode.IsLnk(node.Type)) return Errno.EINVAL; // readlink(2) on anything but a symlink
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.ReadlinkAsync(ctx, Loc.Of(i.Value)).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Readlink, t0); }
    }

    public ValueTask<Result<NodeEntry>> MknodAsync(FopContext ctx, MountNode parent, string name, uint mode, ulong rdev, uint umask) =>
        NewEntryAsync(ctx, parent, name, EntryKind.Mknod, mode, rdev, umask, null);

    public ValueTask<Result<NodeEntry>> MkdirAsync(FopContext ctx, MountNode parent, string name, uint mode, uint umask) =>
        NewEntryAsync(ctx, parent, name, EntryKind.Mkdir, mode, 0, umask, null);

    public ValueTask<Result<NodeEntry>> SymlinkAsync(FopContext ctx, MountNode parent, string name, string target, uint umask = 0) =>
        NewEntryAsync(ctx, parent, name, EntryKind.Symlink, 0, 0, umask, target);

    private enum EntryKind { Mknod, Mkdir, Symlink }

    private async ValueTask<Result<NodeEntry>> NewEntryAsync(FopContext ctx, MountNode parent, string name, EntryKind kind,
                                                             uint mode, ulong rdev, uint umask, string? target)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var p = await ResolveAsync(ctx, parent, g).ConfigureAwait(false);
            if (!p.Ok) return p.Error;
            var loc = Loc.Child(p.Value, name);
            // The client picks the GFID, so a retried create names the same object.
            var gfid = _newGfids.Next();
            var r = kind switch
            {
                EntryKind.Mkdir => await g.Top.MkdirAsync(ctx, loc, mode, umask, gfid).ConfigureAwait(false),
                EntryKind.Symlink => await g.Top.SymlinkAsync(ctx, target!, loc, umask, gfid).ConfigureAwait(false),
                _ => await g.Top.MknodAsync(ctx, loc, mode, rdev, umask, gfid).ConfigureAwait(false),
            };
            if (!r.Ok) return r.Error;
            if (r.Value.Gfid.IsZero) return NoGfid(g, r.Value);
            return new NodeEntry(LinkNode(g, parent.Gfid, name, r.Value), r.Value);
        }
        finally { lease.Dispose(); Timed(kind switch { EntryKind.Mkdir => MountFop.Mkdir, EntryKind.Symlink => MountFop.Symlink, _ => MountFop.Mknod }, t0); }
    }

    public ValueTask<Errno> UnlinkAsync(FopContext ctx, MountNode parent, string name) => RemoveEntryAsync(ctx, parent, name, dir: false);

    public ValueTask<Errno> RmdirAsync(FopContext ctx, MountNode parent, string name) => RemoveEntryAsync(ctx, parent, name, dir: true);

    private async ValueTask<Errno> RemoveEntryAsync(FopContext ctx, MountNode parent, string name, bool dir)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var p = await ResolveAsync(ctx, parent, g).ConfigureAwait(false);
            if (!p.Ok) return p.Error;
            var loc = ChildLoc(g, p.Value, name);
            var e = dir ? await g.Top.RmdirAsync(ctx, loc).ConfigureAwait(false)
                        : await g.Top.UnlinkAsync(ctx, loc).ConfigureAwait(false);
            if (e == Errno.OK || e == Errno.ENOENT) g.Inodes.Unlink(parent.Gfid, name);
            return e;
        }
        finally { lease.Dispose(); Timed(dir ? MountFop.Rmdir : MountFop.Unlink, t0); }
    }

    /// <summary>RENAME (renameat2 flags). Returns the moved object's attributes.</summary>
    public async ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, MountNode oldParent, string oldName,
                                                     MountNode newParent, string newName, RenameFlags flags = RenameFlags.None)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var op = await ResolveAsync(ctx, oldParent, g).ConfigureAwait(false);
            if (!op.Ok) return op.Error;
            var np = await ResolveAsync(ctx, newParent, g).ConfigureAwait(false);
            if (!np.Ok) return np.Error;
            var r = await g.Top.RenameAsync(ctx, ChildLoc(g, op.Value, oldName), ChildLoc(g, np.Value, newName), flags).ConfigureAwait(false);
            if (!r.Ok) return r.Error;
            if ((flags & RenameFlags.Exchange) != 0) g.Inodes.Exchange(oldParent.Gfid, oldName, newParent.Gfid, newName);
            else g.Inodes.Rename(oldParent.Gfid, oldName, newParent.Gfid, newName);
            return r;
        }
        finally { lease.Dispose(); Timed(MountFop.Rename, t0); }
    }

    /// <summary>LINK: <paramref name="newName"/> in <paramref name="newParent"/> becomes another name of <paramref name="node"/>; the node gains one lookup.</summary>
    public async ValueTask<Result<NodeEntry>> LinkAsync(FopContext ctx, MountNode node, MountNode newParent, string newName)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            var np = await ResolveAsync(ctx, newParent, g).ConfigureAwait(false);
            if (!np.Ok) return np.Error;
            var r = await g.Top.LinkAsync(ctx, Loc.Of(i.Value), Loc.Child(np.Value, newName)).ConfigureAwait(false);
            if (!r.Ok) return r.Error;
            if (r.Value.Gfid.IsZero) return NoGfid(g, r.Value);
            return new NodeEntry(LinkNode(g, newParent.Gfid, newName, r.Value), r.Value);
        }
        finally { lease.Dispose(); Timed(MountFop.Link, t0); }
    }

    public async ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, MountNode node)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.StatfsAsync(ctx, Loc.Of(i.Value)).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Statfs, t0); }
    }

    // ---- extended attributes (by node, as FUSE sends them) ----

    public async ValueTask<Errno> SetxattrAsync(FopContext ctx, MountNode node, string name, ReadOnlyMemory<byte> value, int flags)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.SetxattrAsync(ctx, Loc.Of(i.Value), name, value, flags).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Setxattr, t0); }
    }

    public async ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, MountNode node, string name)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.GetxattrAsync(ctx, Loc.Of(i.Value), name).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Getxattr, t0); }
    }

    public async ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, MountNode node)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.ListxattrAsync(ctx, Loc.Of(i.Value)).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Listxattr, t0); }
    }

    public async ValueTask<Errno> RemovexattrAsync(FopContext ctx, MountNode node, string name)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            return await g.Top.RemovexattrAsync(ctx, Loc.Of(i.Value), name).ConfigureAwait(false);
        }
        finally { lease.Dispose(); Timed(MountFop.Removexattr, t0); }
    }

    /// <summary>A loc for (parent, name) that carries the target's GFID and inode when this graph's table knows the dentry.</summary>
    private static Loc ChildLoc(Graph g, Inode parent, string name)
    {
        var child = g.Inodes.FindChild(parent.Gfid, name);
        return child is null ? Loc.Child(parent, name) : new Loc(child.Gfid, parent.Gfid, name, child, parent);
    }
}
