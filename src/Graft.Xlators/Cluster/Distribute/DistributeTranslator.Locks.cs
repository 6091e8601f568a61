using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// Domain locks (inodelk, entrylk) live on one brick each: every client must send a lock on the
// same object to the same subvolume, or two of them could hold conflicting locks on different
// bricks. Whoever takes such locks for a transaction (replicate) normally sits below distribute
// and asks its own children; these routes make the fops meaningful above it too.
public sealed partial class DistributeTranslator
{
    /// <summary>
    /// A file's locks are kept where the file is (as its xattrop counters). A directory has a copy
    /// on every subvolume: its locks go to the first, the same one for every client.
    /// </summary>
    public override async ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length)
    {
        if (IsDirLoc(loc)) return await Children[0].InodeLkAsync(ctx, loc, domain, cmd, type, start, length).ConfigureAwait(false);
        return await AwaitMoveAsync(ctx, loc.Inode, null,
            async () => (await OnFileAsync(ctx, loc, (c, l) => Children[c].InodeLkAsync(ctx, l, domain, cmd, type, start, length)).ConfigureAwait(false)).Error).ConfigureAwait(false);
    }

    /// <summary>
    /// Not routed (its one sender, replicate, sits below distribute and asks its own children): ENOSYS,
    /// so a caller makes the two calls, inodelk and xattrop, which are.
    /// </summary>
    public override ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                  string? name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <summary>Not routed either (replicate sends it to its own children): ENOSYS, so a caller creates alone.</summary>
    public override ValueTask<Result<LockedCreate>> CreateInodeLkXattropAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd,
                                                                              string domain, FileLock lk, string name, ReadOnlyMemory<byte> deltas) =>
        new(new Result<LockedCreate>(Errno.ENOSYS));

    /// <summary>Brick-side forms of xattrop and inodelk-xattrop through an fd (features/locks, protocol/server): not routed, ENOSYS (make them by loc).</summary>
    public override ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <inheritdoc cref="FxattropAsync"/>
    public override ValueTask<Result<byte[]>> FinodeLkXattropAsync(FopContext ctx, Fd fd, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                   string? name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <summary>Not routed either: ENOSYS, nothing done, so a caller makes the calls apart and releases the fd.</summary>
    public override ValueTask<Result<byte[]>> ReleaseInodeLkXattropAsync(FopContext ctx, Fd fd, string domain, LockType type, long start, long length,
                                                                         string name, ReadOnlyMemory<byte> deltas) => new(new Result<byte[]>(Errno.ENOSYS));

    /// <summary>
    /// A name's lock goes to the subvolume the name hashes to in its directory's layout (where a
    /// create of it goes). A whole-directory lock must conflict with every name's, wherever it
    /// hashes: it is taken on every subvolume in child order (one order for every client, so two
    /// whole-directory lockers cannot each hold a part), and what was taken is dropped again if one
    /// refuses. Its unlock goes to every subvolume.
    /// </summary>
    public override async ValueTask<Errno> EntryLkAsync(FopContext ctx, Loc parent, string domain, string? name, DomainLockCmd cmd, LockType type)
    {
        if (name is not null)
        {
            var layout = await LayoutOfAsync(ctx, parent.Inode?.Gfid ?? parent.Gfid, parent.Inode, _layoutRefreshMs).ConfigureAwait(false);
            int s = PlaceName(layout, name);
            if (s < 0) return Errno.ENOTCONN;
            return await Children[s].EntryLkAsync(ctx, parent, domain, name, cmd, type).ConfigureAwait(false);
        }
        if (cmd == DomainLockCmd.Unlock)
        {
            var first = Errno.OK;
            for (int i = 0; i < Children.Count; i++)
                if (await Children[i].EntryLkAsync(ctx, parent, domain, null, cmd, type).ConfigureAwait(false) is var e && e != Errno.OK && first == Errno.OK)
                    first = e;
            return first;
        }
        for (int i = 0; i < Children.Count; i++)
        {
            var e = await Children[i].EntryLkAsync(ctx, parent, domain, null, cmd, type).ConfigureAwait(false);
            if (e == Errno.OK) continue;
            for (int j = i - 1; j >= 0; j--) await Children[j].EntryLkAsync(ctx, parent, domain, null, DomainLockCmd.Unlock, type).ConfigureAwait(false);
            return e;
        }
        return Errno.OK;
    }
}
