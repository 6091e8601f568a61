using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// Names: each change is an entry transaction on the parent directory (both parents for a rename),
// made on every copy that is up. A new object gets the caller's GFID on every copy; a copy that
// answers with another GFID (the name was already there, different) fails the call with EIO, and
// what this call made on the other copies is taken back, so nothing half-made is left.
public sealed partial class ReplicateTranslator
{
    /// <summary>
    /// A new file on every copy; while every copy is up, each copy's create also takes the file's data lock and
    /// makes its pre-op, so the file is born in a write window of this client (ReplicateTranslator.CreateRelease.cs).
    /// </summary>
    public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        var parents = new Iatt?[Children.Count];
        var born = BornWindowFor(ctx, flags);
        var r = await EntryAsync(ctx, loc, i => OnCopyAsync(ctx, parents, i, c => born is null ? Children[i].CreateAsync(c, loc, flags, mode, umask, gfid, fd)
                                                                                             : CreateLockedAsync(c, i, born, loc, flags, mode, umask, gfid, fd))).ConfigureAwait(false);
        ctx.PostParent = null;
        uint made = Succeeded(r.Results);
        var e = made == 0 ? Errno.OK : await AgreeAsync(ctx, loc, r.Results, made, gfid).ConfigureAwait(false);
        if (made == 0 || !r.Outcome.Ok || e != Errno.OK)
        {
            for (int i = 0; i < Children.Count; i++) if ((made & (1u << i)) != 0) await ReleaseMadeAsync(i, fd, born).ConfigureAwait(false);
            return e != Errno.OK ? e : r.Outcome;
        }
        fd.SetCtx(this, new ReplFd(made));
        if (r.Outcome.Value.Gfid == gfid) Fresh(fd.Inode, made);
        if (born is not null) await OpenBornWindowAsync(fd, born, r.Outcome.Value.Gfid == gfid ? made : 0).ConfigureAwait(false);
        ctx.PostParent = ParentAsRead(loc, parents);
        return r.Outcome;
    }

    public override ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid) =>
        NewObjectAsync(ctx, loc, gfid, i => Children[i].MknodAsync(ctx, loc, mode, rdev, umask, gfid));

    public override ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid) =>
        NewObjectAsync(ctx, loc, gfid, i => Children[i].MkdirAsync(ctx, loc, mode, umask, gfid));

    public override ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid) =>
        NewObjectAsync(ctx, loc, gfid, i => Children[i].SymlinkAsync(ctx, target, loc, umask, gfid));

    private async ValueTask<Result<Iatt>> NewObjectAsync(FopContext ctx, Loc loc, Gfid gfid, Func<int, ValueTask<Result<Iatt>>> make)
    {
        var r = await EntryAsync(ctx, loc, make).ConfigureAwait(false);
        uint made = Succeeded(r.Results);
        if (made != 0 && await AgreeAsync(ctx, loc, r.Results, made, gfid).ConfigureAwait(false) is var e && e != Errno.OK) return e;
        if (made == 0 || !r.Outcome.Ok) return r.Outcome;
        if (Graph?.Inodes.Find(gfid) is { } inode) Fresh(inode, made);
        else Remember(gfid, new ReplInode { Bad = _allMask & ~made, Judged = true });
        return r.Outcome;
    }

    /// <summary>
    /// Every copy made must carry <paramref name="gfid"/>. A copy that made it while another answered
    /// that the name holds another object there (EEXIST, or ESTALE for a plain create: storage/posix
    /// never relabels an object) is a GFID mismatch: the call fails with EIO, logged, and the copies
    /// this call made are removed again.
    /// </summary>
    private async ValueTask<Errno> AgreeAsync(FopContext ctx, Loc loc, Result<Iatt>[] results, uint made, Gfid gfid)
    {
        uint ours = 0, theirs = 0;
        for (int i = 0; i < results.Length; i++)
        {
            if ((made & (1u << i)) != 0) { if (results[i].Value.Gfid == gfid) ours |= 1u << i; else theirs |= 1u << i; }
            else if (results[i].Error is Errno.EEXIST or Errno.ESTALE) theirs |= 1u << i;
        }
        if (ours == 0 || theirs == 0) return Errno.OK;
        Interlocked.Increment(ref _gfidMismatches);
        int a = BitOperations.TrailingZeroCount(ours), b = BitOperations.TrailingZeroCount(theirs);
        LogMismatch(_log, Name, loc.ToString(), Children[a].Name, gfid.ToString(), Children[b].Name,
                    results[b].Ok ? results[b].Value.Gfid.ToString() : "another (" + results[b].Error.Name() + ")");
        var tctx = Trusted(ctx);
        for (int i = 0; i < results.Length; i++)
        {
            if ((ours & (1u << i)) == 0) continue;
            var undo = results[i].Value.IsDir ? await Children[i].RmdirAsync(tctx, loc).ConfigureAwait(false)
                                              : await Children[i].UnlinkAsync(tctx, loc).ConfigureAwait(false);
            if (undo != Errno.OK) LogUndoFailed(_log, Name, loc.ToString(), Children[i].Name, undo.Name());
        }
        return Errno.EIO;
    }

    /// <summary>A new object, made here on <paramref name="made"/>: no need to read its counters, the copies left out need heal.</summary>
    private void Fresh(Inode inode, uint made)
    {
        var st = StateOf(inode);
        Volatile.Write(ref st.Bad, _allMask & ~made);
        st.SplitBrain = false;
        st.Judged = true;
    }

    public override async ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc)
    {
        var parents = new Iatt?[Children.Count];
        var e = (await EntryAsync(ctx, loc, i => OnCopyAsync(ctx, parents, i, c => AsResult(Children[i].UnlinkAsync(c, loc)))).ConfigureAwait(false)).Outcome.Error;
        ctx.PostParent = e == Errno.OK ? ParentAsRead(loc, parents) : null;
        return e;
    }

    public override async ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc) =>
        (await EntryAsync(ctx, loc, i => AsResult(Children[i].RmdirAsync(ctx, loc))).ConfigureAwait(false)).Outcome.Error;

    public override async ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc) =>
        (await EntryAsync(ctx, newLoc, i => Children[i].LinkAsync(ctx, oldLoc, newLoc)).ConfigureAwait(false)).Outcome;

    public override async ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        var from = ParentTarget(oldLoc);
        TxnTarget[] targets = oldLoc.ParentGfid == newLoc.ParentGfid ? [from] : [from, ParentTarget(newLoc)];
        Result<Iatt>[]? results = null;
        var outcome = await TransactAsync(ctx, targets, Pending.Entry, _allMask, i => Children[i].RenameAsync(ctx, oldLoc, newLoc, flags), r => results = r).ConfigureAwait(false);
        return outcome;
    }

    /// <summary>An entry transaction on <paramref name="loc"/>'s parent: the outcome, and each child's own answer.</summary>
    private async ValueTask<(Result<T> Outcome, Result<T>[] Results)> EntryAsync<T>(FopContext ctx, Loc loc, Func<int, ValueTask<Result<T>>> op)
    {
        var results = new Result<T>[Children.Count];
        Array.Fill(results, Errno.ENOTCONN);
        var outcome = await TransactAsync(ctx, [ParentTarget(loc)], Pending.Entry, _allMask, op, r => results = r).ConfigureAwait(false);
        return (outcome, results);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: could not take back {Object} on {Child} after a GFID mismatch: {Error}")]
    private static partial void LogUndoFailed(ILogger log, string name, string @object, string child, string error);
}
