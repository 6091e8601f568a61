using Graft.Core;

namespace Graft.Xlators.Performance.NlCache;

// lookup is answered here; mkdir and whole listings teach a directory's names; every own change to names keeps them
// true, and a change whose outcome is unknown forgets the directory; a notice from the brick forgets what it names.
public sealed partial class NlCacheTranslator
{
    public override IReadOnlyDictionary<string, long>? Counters => new Dictionary<string, long>
    {
        ["enoent-answered"] = Hits, ["learned"] = Learned, ["forgotten"] = Forgotten, ["renewals"] = Renewals,
    };

    public override void Upcall(in UpcallNotice notice, Translator from)
    {
        // An entry notice names the directory; an inode notice for a directory means its attributes changed, or the
        // brick stopped watching it for us (it had to forget watches): either way, stop answering for it.
        Forget(notice.Gfid);
        NotifyUpcall(notice);
    }

    private static Gfid ParentOf(in Loc loc) => loc.Parent?.Gfid ?? loc.ParentGfid;

    public override ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        var parent = ParentOf(loc);
        if (!_enabled || parent.IsZero || !Ordinary(loc.Name)) return FirstChild!.LookupAsync(ctx, loc, xdata);
        long now = Environment.TickCount64;
        switch (Judge(parent, loc.Name!, now, out var dir))
        {
            case Verdict.Absent:
                Interlocked.Increment(ref _hits);
                return new(new Result<Iatt>(Errno.ENOENT));
            case Verdict.Renew:
                Interlocked.Increment(ref _renewals);
                return RenewAsync(ctx, loc, xdata, parent, dir!, now);
            default:
                return FirstChild!.LookupAsync(ctx, loc, xdata);
        }
    }

    private async ValueTask<Result<Iatt>> RenewAsync(FopContext ctx, Loc loc, Xdata? xdata, Gfid parent, Dir dir, long sentMs)
    {
        var r = new Result<Iatt>(Errno.EIO);
        try { r = await FirstChild!.LookupAsync(ctx, loc, xdata).ConfigureAwait(false); }
        finally { Renewed(parent, dir, sentMs, r); }
        return r;
    }

    // ---- learning: a directory made here, or listed whole ----

    public override async ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
    {
        long started = Environment.TickCount64;
        var learning = BeginLearning(gfid, Run(), started);
        var r = await FirstChild!.MkdirAsync(ctx, loc, mode, umask, gfid).ConfigureAwait(false);
        Made(loc, r.Ok ? Errno.OK : r.Error);
        if (learning is null) return r;
        // A new directory is empty. (The brick watched it for this graph from before it was made.)
        if (r.Ok && r.Value.Gfid == gfid) FinishLearning(gfid, learning, started, null);
        else AbandonLearning(gfid, learning);
        return r;
    }

    /// <summary>A listing of a directory in progress on one fd: where the next page must start, and what it found so far.</summary>
    private sealed class Listing(Gfid dir, Dir learning, long startedMs)
    {
        public readonly Gfid Gfid = dir;
        public readonly Dir Learning = learning;
        public readonly long StartedMs = startedMs;
        public readonly List<string> Names = [];
        public long Next;
    }

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        var l = ListingFor(fd, offset);
        var r = await FirstChild!.ReaddirpAsync(ctx, fd, offset, maxEntries).ConfigureAwait(false);
        if (l is not null) Listed(fd, l, r);
        return r;
    }

    public override async ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries)
    {
        var l = ListingFor(fd, offset);
        var r = await FirstChild!.ReaddirAsync(ctx, fd, offset, maxEntries).ConfigureAwait(false);
        if (l is not null) Listed(fd, l, r);
        return r;
    }

    /// <summary>The listing this page continues (or starts, at offset 0), or null when it teaches nothing.</summary>
    private Listing? ListingFor(Fd fd, long offset)
    {
        if (!_enabled) return null;
        if (offset == 0)
        {
            if (fd.GetCtx(this) is Listing old) AbandonLearning(old.Gfid, old.Learning);   // listed again from the start
            long now = Environment.TickCount64;
            var learning = BeginLearning(fd.Inode.Gfid, Run(), now);
            var fresh = learning is null ? null : new Listing(fd.Inode.Gfid, learning, now);
            fd.SetCtx(this, fresh);
            return fresh;
        }
        if (fd.GetCtx(this) is not Listing l) return null;
        if (l.Next == offset) return l;
        // Not the page after the last one (a seek): the listing cannot be trusted to be whole.
        fd.SetCtx(this, null);
        AbandonLearning(l.Gfid, l.Learning);
        return null;
    }

    private void Listed(Fd fd, Listing l, in Result<IReadOnlyList<DirEntry>> r)
    {
        if (!r.Ok)
        {
            fd.SetCtx(this, null);
            AbandonLearning(l.Gfid, l.Learning);
            return;
        }
        if (r.Value.Count == 0)
        {
            fd.SetCtx(this, null);
            FinishLearning(l.Gfid, l.Learning, l.StartedMs, l.Names);
            return;
        }
        foreach (var e in r.Value) if (Ordinary(e.Name)) l.Names.Add(e.Name);
        l.Next = r.Value[^1].NextOffset;
    }

    public override ValueTask ReleasedirAsync(Fd fd)
    {
        if (fd.GetCtx(this) is Listing l) AbandonLearning(l.Gfid, l.Learning);
        return FirstChild!.ReleasedirAsync(fd);
    }

    // ---- own changes to names ----

    /// <summary>
    /// An own fop that makes <paramref name="loc"/>'s name came back: made (or there already: EEXIST), it is in its
    /// directory; any other failure may have left either, so the directory is forgotten.
    /// </summary>
    private void Made(in Loc loc, Errno e)
    {
        if (e is Errno.OK or Errno.EEXIST) Added(ParentOf(loc), loc.Name);
        else Forget(ParentOf(loc));
    }

    /// <summary>An own removal of <paramref name="loc"/>'s name came back: gone (or not there: ENOENT), or else the directory is forgotten.</summary>
    private void Unmade(in Loc loc, Errno e)
    {
        if (e is Errno.OK or Errno.ENOENT) Removed(ParentOf(loc), loc.Name);
        else Forget(ParentOf(loc));
    }

    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var r = await FirstChild!.CreateAsync(ctx, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
        Made(loc, r.Ok ? Errno.OK : r.Error);
        return r;
    }

    public override async ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
    {
        var r = await FirstChild!.MknodAsync(ctx, loc, mode, rdev, umask, gfid).ConfigureAwait(false);
        Made(loc, r.Ok ? Errno.OK : r.Error);
        return r;
    }

    public override async ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
    {
        var r = await FirstChild!.SymlinkAsync(ctx, target, loc, umask, gfid).ConfigureAwait(false);
        Made(loc, r.Ok ? Errno.OK : r.Error);
        return r;
    }

    public override async ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        var r = await FirstChild!.LinkAsync(ctx, oldLoc, newLoc).ConfigureAwait(false);
        Made(newLoc, r.Ok ? Errno.OK : r.Error);
        return r;
    }

    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        var e = await FirstChild!.UnlinkAsync(ctx, loc).ConfigureAwait(false);
        Unmade(loc, e);
        return e;
    }

    public override async ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc)
    {
        var e = await FirstChild!.RmdirAsync(ctx, loc).ConfigureAwait(false);
        Unmade(loc, e);
        if (e == Errno.OK) Forget(loc.Inode?.Gfid ?? loc.Gfid);
        return e;
    }

    public override async ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        var r = await FirstChild!.RenameAsync(ctx, oldLoc, newLoc, flags).ConfigureAwait(false);
        if (r.Ok && (flags & RenameFlags.Exchange) == 0)
        {
            Removed(ParentOf(oldLoc), oldLoc.Name);
            Added(ParentOf(newLoc), newLoc.Name);
        }
        else if (!r.Ok)
        {
            // Most failures change nothing, but a lost connection leaves the outcome unknown: forget both.
            Forget(ParentOf(oldLoc));
            Forget(ParentOf(newLoc));
        }
        return r;
    }
}
