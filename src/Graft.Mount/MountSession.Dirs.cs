using System.Diagnostics;
using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// One directory entry as the session returns it: <see cref="DirEntry.NextOffset"/> is the
/// session's own cookie, and <see cref="Node"/> is set (with one lookup added) when the caller
/// asked readdirp to link entries, as FUSE's READDIRPLUS does.
/// </summary>
public readonly record struct MountDirEntry(DirEntry Entry, MountNode? Node);

// Directory handles. The cookies the front end sees are the session's: cookie k resumes after
// the k-th entry of this open. The backend's offsets are graph-specific (a brick's d_off), so
// they stay inside the MountFile, where a graph switch can rebuild them.
public sealed partial class MountSession
{
    public async ValueTask<Result<MountFile>> OpendirAsync(FopContext ctx, MountNode node)
    {
        var t0 = Stopwatch.GetTimestamp();
        var lease = Enter(ctx);
        var g = lease.Graph;
        try
        {
            var i = await ResolveAsync(ctx, node, g).ConfigureAwait(false);
            if (!i.Ok) return i.Error;
            if (!i.Value.IsDir) return Errno.ENOTDIR;
            const int flags = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY;
            var fd = new Fd(i.Value, flags, ctx.Pid, ctx.LockOwner) { ReleaseInline = ctx.ContinueInline };
            var e = await g.Top.OpendirAsync(ctx, Loc.Of(i.Value), fd).ConfigureAwait(false);
            if (e != Errno.OK) { await PutFdAsync(fd).ConfigureAwait(false); return e; }
            return Register(node, flags, ctx.LockOwner, fd, isDirectory: true);
        }
        finally { lease.Dispose(); Timed(MountFop.Opendir, t0); }
    }

    /// <summary>READDIR from session cookie <paramref name="cookie"/> (0 = start); empty at the end.</summary>
    public ValueTask<Result<IReadOnlyList<MountDirEntry>>> ReaddirAsync(FopContext ctx, MountFile dir, long cookie, int maxEntries) =>
        ReaddirCoreAsync(ctx, dir, cookie, maxEntries, plus: false, linkNodes: false);

    /// <summary>
    /// READDIRPLUS: as <see cref="ReaddirAsync"/> with attributes. With <paramref name="linkNodes"/>
    /// each entry other than "." and ".." gets a node and one lookup, which the front end owes a forget.
    /// </summary>
    public ValueTask<Result<IReadOnlyList<MountDirEntry>>> ReaddirpAsync(FopContext ctx, MountFile dir, long cookie, int maxEntries, bool linkNodes) =>
        ReaddirCoreAsync(ctx, dir, cookie, maxEntries, plus: true, linkNodes);

    private async ValueTask<Result<IReadOnlyList<MountDirEntry>>> ReaddirCoreAsync(FopContext ctx, MountFile dir, long cookie, int maxEntries, bool plus, bool linkNodes)
    {
        if (!dir.IsDirectory) return Errno.ENOTDIR;
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, dir).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try
            {
                if (!dir.TryResume(cookie, g.BackendSignature, out var backend)) return Errno.EINVAL;
                var list = new List<MountDirEntry>();
                var next = cookie;
                // A restarted listing may find a whole batch already returned: read on until
                // something new or the end, so an empty answer always means the end.
                while (list.Count == 0)
                {
                    var r = plus ? await g.Top.ReaddirpAsync(ctx, f.Value, backend, maxEntries).ConfigureAwait(false)
                                 : await g.Top.ReaddirAsync(ctx, f.Value, backend, maxEntries).ConfigureAwait(false);
                    if (!r.Ok) return r.Error;
                    if (r.Value.Count == 0) break;
                    foreach (var e in r.Value)
                    {
                        backend = e.NextOffset;
                        if (dir.AlreadyReturned(e.Name)) continue;
                        next = dir.RecordEntry(next + 1, e.NextOffset, e.Name);
                        var iatt = e.Iatt;
                        // Attributes the kernel will cache: if an older graph's write-behind still
                        // holds bytes of this file, let them land and take the size afterwards.
                        if (iatt is { } held && !held.Gfid.IsZero && await _graphs.SettleOlderAsync(held.Gfid, g).ConfigureAwait(false))
                        {
                            var fresh = await g.Top.StatAsync(ctx, Loc.Nameless(held.Gfid)).ConfigureAwait(false);
                            if (fresh.Ok) iatt = fresh.Value;
                        }
                        MountNode? node = null;
                        if (linkNodes && iatt is { } ia && !ia.Gfid.IsZero && e.Name is not ("." or ".."))
                            node = LinkNode(g, dir.Node.Gfid, e.Name, ia);
                        list.Add(new MountDirEntry(new DirEntry
                        {
                            Name = e.Name, Gfid = e.Gfid, Ino = e.Ino, Type = e.Type, NextOffset = next, Iatt = iatt,
                        }, node));
                    }
                }
                return list;
            }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(plus ? MountFop.Readdirp : MountFop.Readdir, t0); }
    }
}
