using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// Directories are opened on every subvolume and listed one subvolume after the other. Each name
// comes once: files from the subvolume that holds them (link pointers are never shown),
// directories and "." / ".." from the first open copy only. Offsets are DirOffset values:
// (subvolume, its own offset), so a listing resumes anywhere from the offset alone.
public sealed partial class DistributeTranslator
{
    public override async ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
    {
        var all = AllSubvols();
        var got = await FanOutAsync(all, i => Children[i].OpendirAsync(ctx, loc, fd)).ConfigureAwait(false);
        var opened = got.Select(e => e == Errno.OK).ToArray();
        // A copy that cannot be reached or is missing leaves its names out; a refusal refuses.
        var refused = got.FirstOrDefault(e => e is not (Errno.OK or Errno.ENOTCONN or Errno.ESTALE or Errno.ENOENT));
        int primary = Array.IndexOf(opened, true);
        if (refused != Errno.OK || primary < 0)
        {
            for (int i = 0; i < opened.Length; i++) if (opened[i]) await Children[i].ReleasedirAsync(fd).ConfigureAwait(false);
            return refused != Errno.OK ? refused : got[0];
        }
        fd.SetCtx(this, new DhtFd(primary, opened));
        return Errno.OK;
    }

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        ListAsync(ctx, fd, offset, maxEntries, plus: false);

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        ListAsync(ctx, fd, offset, maxEntries, plus: true);

    private async ValueTask<Result<IReadOnlyList<DirEntry>>> ListAsync(FopContext ctx, Fd fd, long offset, int maxEntries, bool plus)
    {
        if (fd.GetCtx(this) is not DhtFd { Opened: { } opened } d) return Errno.EBADF;
        int n = Children.Count;
        var (i, off, skipThrough) = DirOffset.Decode(offset, n);
        // Every subvolume is read with readdirp, to tell link pointers by their mode. A plain
        // readdir asks as the mount (its caller could read the names, not their attributes) and
        // passes on names and types only.
        var rctx = plus ? ctx : Trusted(ctx);
        var list = new List<DirEntry>();
        while (i < n && list.Count == 0)
        {
            if (!opened[i]) { i++; off = 0; skipThrough = null; continue; }
            var r = await Children[i].ReaddirpAsync(rctx, fd, off, maxEntries).ConfigureAwait(false);
            if (!r.Ok)
            {
                if (r.Error != Errno.ENOTCONN) return r.Error;
                i++; off = 0; skipThrough = null; // unreachable now: list what is reachable
                continue;
            }
            if (r.Value.Count == 0) { i++; off = 0; skipThrough = null; continue; }
            foreach (var e in r.Value)
            {
                off = e.NextOffset;
                if (skipThrough is { } s && (ulong)e.NextOffset <= s) continue;
                if (!await ShownAsync(ctx, fd, i, d.Subvol, e).ConfigureAwait(false)) continue;
                list.Add(new DirEntry
                {
                    Name = e.Name, Gfid = e.Gfid, Ino = e.Ino, Type = e.Type, Iatt = plus ? e.Iatt : null,
                    NextOffset = DirOffset.Encode(i, e.NextOffset, n),
                });
            }
            skipThrough = null;
        }
        return list;
    }

    /// <summary>Whether a subvolume's entry is one the listing shows.</summary>
    private async ValueTask<bool> ShownAsync(FopContext ctx, Fd fd, int subvol, int primary, DirEntry e)
    {
        if (e.Name is "." or ".." || e.Type == PosixMode.S_IFDIR || e.Iatt is { IsDir: true }) return subvol == primary;
        if (e.Iatt is { } ia ? !Linkfile.Suspect(ia) : e.Type is not (PosixMode.S_IFREG or 0)) return true;
        return await PointerTargetAsync(ctx, subvol, Loc.Child(fd.Inode.Gfid, e.Name)).ConfigureAwait(false) == -1;
    }

    public override async ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        if (fd.GetCtx(this) is not DhtFd { Opened: { } opened }) return Errno.EBADF;
        var which = Enumerable.Range(0, opened.Length).Where(i => opened[i]).ToArray();
        var got = await FanOutAsync(which, i => Children[i].FsyncdirAsync(ctx, fd, dataOnly)).ConfigureAwait(false);
        return got.FirstOrDefault(e => e != Errno.OK);
    }

    public override async ValueTask ReleasedirAsync(Fd fd)
    {
        if (fd.GetCtx(this) is not DhtFd { Opened: { } opened }) return;
        fd.SetCtx(this, null);
        for (int i = 0; i < opened.Length; i++)
            if (opened[i]) await Children[i].ReleasedirAsync(fd).ConfigureAwait(false);
    }
}
