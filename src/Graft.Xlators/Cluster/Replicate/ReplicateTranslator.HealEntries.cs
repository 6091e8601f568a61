using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// Entry heal of a directory: the sinks get the source's names. Names are made first, then the
// sinks' extra names removed, so a rename or a hard link made while a sink was down becomes a link
// to the object the sink already has (found by GFID), then the removal of its old name. A new
// object is made with the source's GFID and then blamed on the source copy for the sink, so its
// own heal (started at once) copies its data, metadata and, for a directory, its entries.
public sealed partial class ReplicateTranslator
{
    /// <param name="merge">only add the source's names (no copy is known to be right about a removal).</param>
    private async ValueTask<Errno> HealEntriesAsync(FopContext ctx, Loc dir, int src, uint sinks, bool merge)
    {
        var want = await ListAllAsync(ctx, src, dir).ConfigureAwait(false);
        if (!want.Ok) return want.Error;
        var children = new List<Gfid>();
        var r = await FanOutAsync(sinks, async i =>
        {
            var have = await ListAllAsync(ctx, i, dir).ConfigureAwait(false);
            if (!have.Ok) return new Result<bool>(have.Error);
            foreach (var (name, e) in want.Value)
            {
                if (have.Value.TryGetValue(name, out var h))
                {
                    if (h.Gfid == e.Gfid || merge) continue; // in a merge a clash is not ours to settle: lookup reports it
                    var rm = await RemoveTreeAsync(ctx, i, dir, name, h).ConfigureAwait(false);
                    if (rm != Errno.OK) return new Result<bool>(rm);
                }
                var made = await MakeLikeAsync(ctx, src, i, dir, name, e).ConfigureAwait(false);
                if (made != Errno.OK) return new Result<bool>(made);
                lock (children) children.Add(e.Gfid);
            }
            foreach (var (name, h) in have.Value)
            {
                if (merge || want.Value.ContainsKey(name)) continue;
                var rm = await RemoveTreeAsync(ctx, i, dir, name, h).ConfigureAwait(false);
                if (rm != Errno.OK) return new Result<bool>(rm);
            }
            return new Result<bool>(true);
        }).ConfigureAwait(false);
        foreach (var g in children.Distinct()) _ = StartHeal(g);
        uint done = Succeeded(r);
        return done == sinks ? Errno.OK : FirstOk(r, sinks & ~done).Error;
    }

    /// <summary>Makes <paramref name="name"/> on <paramref name="sink"/> as it is on <paramref name="src"/>: a link to the object if the sink has its GFID, else a new object with its GFID, blamed for heal.</summary>
    private async ValueTask<Errno> MakeLikeAsync(FopContext ctx, int src, int sink, Loc dir, string name, DirEntry e)
    {
        var at = Loc.Child(dir.Gfid, name);
        var there = await Children[src].LookupAsync(ctx, at).ConfigureAwait(false);
        if (!there.Ok) return there.Error == Errno.ENOENT ? Errno.OK : there.Error; // gone meanwhile
        var s = there.Value;
        var elsewhere = await Children[sink].LookupAsync(ctx, Loc.Nameless(s.Gfid)).ConfigureAwait(false);
        if (elsewhere.Ok && !s.IsDir)
        {
            var l = await Children[sink].LinkAsync(ctx, Loc.Nameless(s.Gfid), at).ConfigureAwait(false);
            return l.Ok || l.Error == Errno.EEXIST ? Errno.OK : l.Error;
        }
        if (elsewhere.Ok) { LogDirElsewhere(_log, Name, at.ToString(), Children[sink].Name); return Errno.EAGAIN; }
        Result<Iatt> m;
        uint perm = s.Mode & PosixMode.PermMask;
        if (s.IsDir) m = await Children[sink].MkdirAsync(ctx, at, perm, 0, s.Gfid).ConfigureAwait(false);
        else if (s.IsSymlink)
        {
            var target = await Children[src].ReadlinkAsync(ctx, Loc.Nameless(s.Gfid)).ConfigureAwait(false);
            if (!target.Ok) return target.Error;
            m = await Children[sink].SymlinkAsync(ctx, target.Value, at, 0, s.Gfid).ConfigureAwait(false);
        }
        else m = await Children[sink].MknodAsync(ctx, at, s.Mode, s.Rdev, 0, s.Gfid).ConfigureAwait(false);
        if (!m.Ok && m.Error != Errno.EEXIST) return m.Error;
        // The source's copy of the new object now blames the sink for all of it: its own heal fills it in.
        var blame = new byte[Pending.Width];
        for (int k = 0; k < Pending.Kinds; k++) blame[k * 8 + 7] = 1;
        var x = await Children[src].XattropAsync(ctx, Loc.Nameless(s.Gfid), _pendingNames[sink], blame).ConfigureAwait(false);
        return x.Ok ? Errno.OK : x.Error;
    }

    /// <summary>Removes <paramref name="name"/> (and, for a directory, everything under it) from child <paramref name="i"/>'s copy only.</summary>
    private async ValueTask<Errno> RemoveTreeAsync(FopContext ctx, int i, Loc dir, string name, DirEntry e)
    {
        var at = Loc.Child(dir.Gfid, name);
        if (!PosixMode.IsDir(e.Type) && e.Iatt is not { IsDir: true })
        {
            var u = await Children[i].UnlinkAsync(ctx, at).ConfigureAwait(false);
            return u is Errno.OK or Errno.ENOENT ? Errno.OK : u;
        }
        var sub = Loc.Nameless(e.Gfid);
        var inner = await ListAllAsync(ctx, i, sub).ConfigureAwait(false);
        if (inner.Ok)
            foreach (var (n, d) in inner.Value)
                if (await RemoveTreeAsync(ctx, i, sub, n, d).ConfigureAwait(false) is var rm && rm != Errno.OK) return rm;
        var r = await Children[i].RmdirAsync(ctx, at).ConfigureAwait(false);
        return r is Errno.OK or Errno.ENOENT ? Errno.OK : r;
    }

    /// <summary>Every name in child <paramref name="i"/>'s copy of <paramref name="dir"/> (not . or ..).</summary>
    private async ValueTask<Result<Dictionary<string, DirEntry>>> ListAllAsync(FopContext ctx, int i, Loc dir)
    {
        var table = Graph?.Inodes;
        if (table is null) return Errno.EIO;
        var found = await Children[i].LookupAsync(ctx, dir).ConfigureAwait(false);
        if (!found.Ok) return found.Error;
        var inode = table.Link(default, null, found.Value);
        var fd = new Fd(inode, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        table.Unref(inode);
        var names = new Dictionary<string, DirEntry>(StringComparer.Ordinal);
        try
        {
            var e = await Children[i].OpendirAsync(ctx, Loc.Of(inode), fd).ConfigureAwait(false);
            if (e != Errno.OK) return e;
            try
            {
                long off = 0;
                while (true)
                {
                    var r = await Children[i].ReaddirpAsync(ctx, fd, off, 256).ConfigureAwait(false);
                    if (!r.Ok) return r.Error;
                    if (r.Value.Count == 0) return names;
                    foreach (var d in r.Value)
                    {
                        if (d.Name is not ("." or "..")) names[d.Name] = d;
                        off = d.NextOffset;
                    }
                }
            }
            finally { await Children[i].ReleasedirAsync(fd).ConfigureAwait(false); }
        }
        finally { fd.Unref(); }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: directory {Object} exists elsewhere on {Child} (renamed while it was down): left pending")]
    private static partial void LogDirElsewhere(ILogger log, string name, string @object, string child);
}
