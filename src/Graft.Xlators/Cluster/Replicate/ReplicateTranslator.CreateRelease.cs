using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>
/// A write window asked for with a create: the lock context (its own lock owner) the copies' locks were
/// asked with, and the copies whose lock and pre-op came with their create.
/// </summary>
internal sealed class BornWindow(FopContext lctx)
{
    public readonly FopContext Ctx = lctx;
    /// <summary>Set by the copies' creates as they answer (Interlocked).</summary>
    public uint Held;
}

// A file's first write window and its last close, each merged into a request the file needs anyway
// (bricks that grant feature bit 2, docs/replicate.md "Session 10"):
//
// - A create, while every copy is up, also takes the new file's data lock and makes its pre-op on each copy
//   (create-inodelk-xattrop: the brick locks the new GFID before it makes the file, so no other client can
//   lock it first, and adds the pre-op once it is made). With every copy's, the file is born inside a write
//   window of this client: its first writes need no lock round trip of their own. A create cut off before
//   it leaves copies that count themselves in a change (dirty), as a window cut off does: healed from the
//   biggest, and in the heal index. Anything less than every copy's lock and pre-op is given back at once
//   (the window then opens as any other, at the first write).
// - A release of an fd ends the open window with it: each copy's post-op and unlock go with its release
//   (release-inodelk-xattrop). So a flush (close) leaves the window to the release that follows it when that
//   release can carry it; the window's other bounds (post-op-delay, fsync, other changes, heal, PARENT_DOWN)
//   are unchanged.
//
// A brick that answers ENOSYS (older, lock-create-release off, no features/locks) gets the separate calls,
// and is not asked again until it goes down or comes back.
public sealed partial class ReplicateTranslator
{
    /// <summary>Children that answered ENOSYS to create- or release-inodelk-xattrop; cleared when the child goes down or comes up.</summary>
    private uint _noLockedOps;

    private void NoLockedOps(int i) => Interlocked.Or(ref _noLockedOps, 1u << i);

    /// <summary>
    /// The window a create of a file opened with <paramref name="flags"/> should be born in, or null: only while
    /// every copy is up and may take it (the pre-op is then each copy's own count, as inodelk-xattrop makes it),
    /// windows last (post-op-delay), and the file is opened for writing.
    /// </summary>
    private BornWindow? BornWindowFor(FopContext ctx, int flags) =>
        UpMask == _allMask && (Volatile.Read(ref _noLockedOps) & _allMask) == 0 && Volatile.Read(ref _postOpDelayMs) > 0
        && (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY
            ? new BornWindow(LockContext(ctx)) : null;

    /// <summary>Copy <paramref name="i"/>'s create, with the new file's lock and pre-op where the brick has create-inodelk-xattrop.</summary>
    private async ValueTask<Result<Iatt>> CreateLockedAsync(FopContext c, int i, BornWindow born, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        if ((Volatile.Read(ref _noLockedOps) & (1u << i)) == 0)
        {
            var (start, length) = RangeOf(Pending.Data);
            var lk = new FileLock { Type = LockType.Write, Start = start, Length = length, Owner = born.Ctx.LockOwner };
            var r = await Children[i].CreateInodeLkXattropAsync(c, loc, flags, mode, umask, gfid, fd, _domain, lk, _pendingNames[i], Pending.Delta(Pending.Data, 1))
                .ConfigureAwait(false);
            if (r.Ok)
            {
                if (r.Value.Lock == Errno.OK) Interlocked.Or(ref born.Held, 1u << i);
                return r.Value.Iatt;
            }
            if (r.Error != Errno.ENOSYS) return r.Error;
            NoLockedOps(i);
        }
        return await Children[i].CreateAsync(c, loc, flags, mode, umask, gfid, fd).ConfigureAwait(false);
    }

    /// <summary>
    /// After a create made on every copy in <paramref name="made"/>: with every copy's lock and pre-op, the new
    /// file's write window is open (holding its mutex, as any window, for at most post-op-delay); with fewer,
    /// what was taken is given back (each copy's pre-op taken off with its unlock, one request each).
    /// </summary>
    private async ValueTask OpenBornWindowAsync(Fd fd, BornWindow born, uint made)
    {
        var st = StateOf(fd.Inode);
        var target = new TxnTarget(Loc.Of(fd.Inode), st, null);
        uint held = Volatile.Read(ref born.Held);
        // The mutex of a file this client just made is free unless a writer that found it meanwhile is opening
        // a window of its own: that one waits for the brick locks given back here.
        if (held == _allMask && made == _allMask && st.Mutex.TryEnter())
        {
            Interlocked.Increment(ref _transactions);
            Interlocked.Increment(ref _preOps);
            Interlocked.Increment(ref _lockedCreates);
            var win = new WriteWindow(target, born.Ctx, held, held);
            lock (st) st.Window = win;
            _windows[win] = 0;
            win.Timer = new Timer(_ => _ = CloseWindowAsync(st, born.Ctx.ContinueInline), null, Math.Max(1, Volatile.Read(ref _postOpDelayMs)), Timeout.Infinite);
            return;
        }
        if (held == 0) return;
        await FanOutAsync(held, async i => new Result<bool>(await GiveBackAsync(born.Ctx, i, target, null).ConfigureAwait(false))).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives back copy <paramref name="i"/>'s lock and pre-op taken with a create whose window did not open,
    /// with the release of <paramref name="release"/> where given and the brick has it. True when the fd went too.
    /// </summary>
    private async ValueTask<bool> GiveBackAsync(FopContext lctx, int i, TxnTarget t, Fd? release)
    {
        var r = await AddUnlockReleaseAsync(lctx, i, t, Pending.Data, Pending.Delta(Pending.Data, -1), release).ConfigureAwait(false);
        if (r == PostOpDone.Released) return true;
        if (r == PostOpDone.AddedOnly) await UnlockAsync(lctx, [t], Pending.Data, 1u << i).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// Releases copy <paramref name="i"/>'s fd of a create that is taken back (refused, or a GFID mismatch); where
    /// the create took the file's lock and pre-op, they are given back with the release.
    /// </summary>
    private async ValueTask ReleaseMadeAsync(int i, Fd fd, BornWindow? born)
    {
        if (born is not null && (Volatile.Read(ref born.Held) & (1u << i)) != 0
            && await GiveBackAsync(born.Ctx, i, new TxnTarget(Loc.Of(fd.Inode), StateOf(fd.Inode), null), fd).ConfigureAwait(false)) return;
        await Children[i].ReleaseAsync(fd).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether the release of <paramref name="fd"/> can end the open write window of <paramref name="st"/> with
    /// each copy's post-op and unlock: the fd is open on every copy the window writes, and no copy failed a write
    /// (whose blame takes the separate calls). A copy whose brick lacks release-inodelk-xattrop gets the
    /// separate calls at the release instead of the flush.
    /// </summary>
    private bool ReleaseEndsWindow(ReplInode st, Fd fd)
    {
        WriteWindow? w;
        uint failed;
        lock (st)
        {
            w = st.Window;
            failed = w?.Failed ?? 0;
        }
        return w is { Closing: false } && failed == 0 && fd.GetCtx(this) is ReplFd f && (w.Armed & ~f.Opened) == 0;
    }

    /// <summary>What <see cref="AddUnlockReleaseAsync"/> did on one copy.</summary>
    private enum PostOpDone
    {
        /// <summary>The add alone: the lock is still held, the fd still open.</summary>
        AddedOnly,
        /// <summary>The add (whatever it answered) and the unlock; the fd is still open.</summary>
        Unlocked,
        /// <summary>The add, the unlock and the release of the fd, in one request.</summary>
        Released,
    }

    /// <summary>
    /// Child <paramref name="i"/>'s post-op (<paramref name="delta"/> on its own counter) and unlock and, when
    /// <paramref name="release"/> is given, the release of that fd: one request (release-inodelk-xattrop) where
    /// the brick has it; else <see cref="AddThenUnlockAsync"/>, and the fd is left for the caller to release.
    /// </summary>
    private async ValueTask<PostOpDone> AddUnlockReleaseAsync(FopContext lctx, int i, TxnTarget t, int kind, byte[] delta, Fd? release)
    {
        if (release is not null && (Volatile.Read(ref _noLockedOps) & (1u << i)) == 0)
        {
            var (start, length) = RangeOf(kind);
            var c = await Children[i].ReleaseInodeLkXattropAsync(lctx, release, _domain, LockType.Write, start, length, _pendingNames[i], delta).ConfigureAwait(false);
            if (c.Error != Errno.ENOSYS) return PostOpDone.Released; // whatever the add answered, the brick gave the lock back and released the fd
            NoLockedOps(i);
        }
        var u = await AddThenUnlockAsync(lctx, i, t, kind, delta).ConfigureAwait(false);
        return u is { Ok: true, Value: true } ? PostOpDone.Unlocked : PostOpDone.AddedOnly;
    }
}
