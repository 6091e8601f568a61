using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

// What a client does while a rebalance moves a file it wants to change. The brick that holds the file
// refuses a writer (an open for writing, a truncate, a change of attributes or xattrs, unlink, rename,
// link) with EINPROGRESS while the move holds the file; distribute waits and tries again, finding the
// file anew by GFID each time — after the move it is on another subvolume — for at most
// migration-wait, then answers EBUSY. Readers are never held: the data cannot change during a move.
public sealed partial class DistributeTranslator
{
    private long _migrationWaitMs, _migrateYieldMs;
    private bool[] _decommissioned = [];

    /// <summary>Calls that found their file being moved and waited for it; those that gave up after migration-wait.</summary>
    public long WaitsForMoves => Interlocked.Read(ref _waitsForMoves);
    public long MoveWaitsTimedOut => Interlocked.Read(ref _moveWaitsTimedOut);
    private long _waitsForMoves, _moveWaitsTimedOut;

    private async ValueTask<Result<T>> AwaitMoveAsync<T>(FopContext ctx, Inode? a, Inode? b, Func<ValueTask<Result<T>>> call)
    {
        var r = await call().ConfigureAwait(false);
        if (r.Error != Errno.EINPROGRESS) return r;
        Interlocked.Increment(ref _waitsForMoves);
        long deadline = Environment.TickCount64 + Volatile.Read(ref _migrationWaitMs);
        for (int delay = 2; ; delay = Math.Min(delay * 2, 100))
        {
            // Wherever the file was, it may be elsewhere once the move is done: find it again by GFID.
            if (CtxOf(a) is { } ca) ca.Cached = -1;
            if (CtxOf(b) is { } cb) cb.Cached = -1;
            if (Environment.TickCount64 >= deadline)
            {
                Interlocked.Increment(ref _moveWaitsTimedOut);
                return Errno.EBUSY;
            }
            try { await Task.Delay(delay, ctx.Cancellation).ConfigureAwait(false); }
            catch (OperationCanceledException) { return Errno.EINTR; }
            r = await call().ConfigureAwait(false);
            if (r.Error != Errno.EINPROGRESS) return r;
        }
    }

    private async ValueTask<Errno> AwaitMoveAsync(FopContext ctx, Inode? a, Inode? b, Func<ValueTask<Errno>> call)
    {
        var r = await AwaitMoveAsync(ctx, a, b, async () =>
        {
            var e = await call().ConfigureAwait(false);
            return e == Errno.OK ? new Result<bool>(true) : e;
        }).ConfigureAwait(false);
        return r.Error;
    }

    /// <summary>
    /// Subvolumes being drained (remove-brick; option <c>decommissioned</c>): new layouts give them no
    /// range, and a new name that an older layout still hashes to one of them is placed elsewhere.
    /// </summary>
    private bool IsDecommissioned(int i) => i >= 0 && i < _decommissioned.Length && _decommissioned[i];

    /// <summary>The members a new layout spreads over: <paramref name="members"/> without the decommissioned ones (unless that leaves none).</summary>
    private List<int> LayoutMembers(IEnumerable<int> members)
    {
        var all = members.ToList();
        var kept = all.Where(i => !IsDecommissioned(i)).ToList();
        return kept.Count > 0 ? kept : all;
    }

    private bool[] ParseDecommissioned(string list)
    {
        var result = new bool[Children.Count];
        foreach (var name in list.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int i = IndexOfName(name);
            if (i < 0) throw new ArgumentException($"{this}: decommissioned: '{name}' is not a subvolume ({string.Join(", ", Children.Select(c => c.Name))})");
            result[i] = true;
        }
        if (result.Length > 0 && Array.TrueForAll(result, d => d)) throw new ArgumentException($"{this}: decommissioned: every subvolume is listed; one at least must take new names");
        return result;
    }
}
