using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// Entry heal of a directory: the sinks get the source's names. Names are made first, then the
// sinks' extra names removed, so a rename or a hard link of a file made while a sink was down becomes
// a link to the object the sink already has (found by GFID), then the removal of its old name. A
// directory has one name: one renamed while a sink was down is moved there on the sink (by whichever
// of its two parents' heals comes first), its contents with it. A new
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
                // A directory the source has under another name (renamed while the sink was down) is
                // moved there on the sink with what it holds, not removed to be copied again.
                if (IsDir(h) && await MoveToSourcePlaceAsync(ctx, src, i, dir, name, h.Gfid).ConfigureAwait(false))
                {
                    lock (children) children.Add(h.Gfid);
                    continue;
                }
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
        if (elsewhere.Ok) return await MoveFromSinkPlaceAsync(ctx, sink, s.Gfid, at).ConfigureAwait(false);
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

    /// <summary>
    /// Directory <paramref name="gfid"/> is on <paramref name="sink"/> somewhere else than the source's
    /// <paramref name="to"/> (renamed while the sink was down, and the heal of its new parent came
    /// first): moved there on the sink, with everything in it.
    /// </summary>
    private async ValueTask<Errno> MoveFromSinkPlaceAsync(FopContext ctx, int sink, Gfid gfid, Loc to)
    {
        var from = await DirPlaceAsync(ctx, sink, gfid).ConfigureAwait(false);
        var m = from.Ok ? await Children[sink].RenameAsync(ctx, from.Value, to, RenameFlags.None).ConfigureAwait(false) : from.Error;
        if (m.Ok) LogDirMoved(_log, Name, from.Value.ToString(), to.ToString(), Children[sink].Name);
        else LogDirElsewhere(_log, Name, to.ToString(), Children[sink].Name, m.Error.ToString());
        return m.Ok ? Errno.OK : Errno.EAGAIN;
    }

    /// <summary>
    /// Whether directory <paramref name="gfid"/>, named <paramref name="name"/> in <paramref name="dir"/> on
    /// <paramref name="sink"/> but not on the source, could be moved on the sink to where the source has it
    /// (renamed while the sink was down, and the heal of its old parent came first). Not when the source has
    /// no such directory or the sink cannot take it there (its new parent not made on the sink yet): then it
    /// is removed as any other extra name, and made again from the source.
    /// </summary>
    private async ValueTask<bool> MoveToSourcePlaceAsync(FopContext ctx, int src, int sink, Loc dir, string name, Gfid gfid)
    {
        var there = await Children[src].LookupAsync(ctx, Loc.Nameless(gfid)).ConfigureAwait(false);
        if (!there.Ok || !there.Value.IsDir) return false;
        var to = await DirPlaceAsync(ctx, src, gfid).ConfigureAwait(false);
        if (!to.Ok) return false;
        var from = Loc.Child(dir.Gfid, name);
        var m = await Children[sink].RenameAsync(ctx, from, to.Value, RenameFlags.None).ConfigureAwait(false);
        if (m.Ok) LogDirMoved(_log, Name, from.ToString(), to.Value.ToString(), Children[sink].Name);
        return m.Ok;
    }

    /// <summary>Where child <paramref name="i"/> has directory <paramref name="gfid"/>: its parent (by "..") and its name there.</summary>
    private async ValueTask<Result<Loc>> DirPlaceAsync(FopContext ctx, int i, Gfid gfid)
    {
        var up = await ScanAsync(ctx, i, Loc.Nameless(gfid), d => d.Name == "..").ConfigureAwait(false);
        if (!up.Ok) return up.Error;
        if (up.Value is not { Gfid.IsZero: false } parent) return Errno.EIO;
        var at = await ScanAsync(ctx, i, Loc.Nameless(parent.Gfid), d => d.Gfid == gfid && d.Name is not ("." or "..")).ConfigureAwait(false);
        return !at.Ok ? at.Error : at.Value is { } e ? Loc.Child(parent.Gfid, e.Name) : Errno.ENOENT;
    }

    private static bool IsDir(DirEntry e) => PosixMode.IsDir(e.Type) || e.Iatt is { IsDir: true };

    /// <summary>Removes <paramref name="name"/> (and, for a directory, everything under it) from child <paramref name="i"/>'s copy only.</summary>
    private async ValueTask<Errno> RemoveTreeAsync(FopContext ctx, int i, Loc dir, string name, DirEntry e)
    {
        var at = Loc.Child(dir.Gfid, name);
        if (!IsDir(e))
        {
            var u = await Children[i].UnlinkAsync(ctx, at).ConfigureAwait(false);
            return u is Errno.OK or Errno.ENOENT ? Errno.OK : u;
        }
        // What is under it is found by GFID: only while the name still is that directory (not moved
        // away by this heal or another), or the removal would empty it wherever it is now.
        var still = await Children[i].LookupAsync(ctx, at).ConfigureAwait(false);
        if (!still.Ok) return still.Error == Errno.ENOENT ? Errno.OK : still.Error;
        if (still.Value.Gfid != e.Gfid) return Errno.OK;
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
        var names = new Dictionary<string, DirEntry>(StringComparer.Ordinal);
        var r = await ScanAsync(ctx, i, dir, d =>
        {
            if (d.Name is not ("." or "..")) names[d.Name] = d;
            return false;
        }).ConfigureAwait(false);
        return r.Ok ? names : r.Error;
    }

    /// <summary>Reads child <paramref name="i"/>'s copy of <paramref name="dir"/> until <paramref name="stop"/> says so (that entry is the answer) or the end (null).</summary>
    private async ValueTask<Result<DirEntry?>> ScanAsync(FopContext ctx, int i, Loc dir, Func<DirEntry, bool> stop)
    {
        var table = Graph?.Inodes;
        if (table is null) return Errno.EIO;
        var found = await Children[i].LookupAsync(ctx, dir).ConfigureAwait(false);
        if (!found.Ok) return found.Error;
        var inode = table.Link(default, null, found.Value);
        var fd = new Fd(inode, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        table.Unref(inode);
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
                    if (r.Value.Count == 0) return new Result<DirEntry?>((DirEntry?)null);
                    foreach (var d in r.Value)
                    {
                        if (stop(d)) return d;
                        off = d.NextOffset;
                    }
                }
            }
            finally { await Children[i].ReleasedirAsync(fd).ConfigureAwait(false); }
        }
        finally { fd.Unref(); }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: directory {Object} exists elsewhere on {Child} (renamed while it was down) and could not be moved there ({Error}): left pending")]
    private static partial void LogDirElsewhere(ILogger log, string name, string @object, string child, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name}: directory {From} moved to {To} on {Child} (renamed while it was down)")]
    private static partial void LogDirMoved(ILogger log, string name, string from, string to, string child);
}
