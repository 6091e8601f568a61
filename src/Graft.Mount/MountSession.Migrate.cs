using System.Runtime.CompilerServices;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

// The fd miss path (DESIGN invariants 4 and 7): an open file whose fd is on an older graph is
// moved to the active graph by the first fop that needs it, single-flight under the file's own
// async lock. Nothing else waits: other files and other requests go on.
public sealed partial class MountSession
{
    /// <summary>
    /// Internal answer of the fd resolution: the file already moved to a graph newer than the one
    /// this fop entered, so the fop must enter again (it may never move the file back).
    /// </summary>
    private const Errno RetryOnActive = (Errno)(-1);

    private const int MigrationDroppedFlags = OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_TRUNC;

    /// <summary>
    /// Enters the active graph and resolves the file's fd on it. A hit takes no lock and
    /// allocates nothing; a miss migrates the file. The caller disposes the lease.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ValueTask<(GraphLease Lease, Result<Fd> Fd)> EnterFileAsync(FopContext ctx, MountFile file)
    {
        var lease = Enter(ctx);
        var fd = file.Fd;
        if (ReferenceEquals(fd.Inode.Table.Graph, lease.Graph) && file.Failure == Errno.OK && fd.TryRef()) return new((lease, new Result<Fd>(fd)));
        return EnterFileSlowAsync(ctx, file, lease);
    }

    private async ValueTask<(GraphLease Lease, Result<Fd> Fd)> EnterFileSlowAsync(FopContext ctx, MountFile file, GraphLease lease)
    {
        while (true)
        {
            if (file.Failure != Errno.OK) return (lease, file.Failure);
            Result<Fd> r;
            try { r = await ResolveFdAsync(file, lease.Graph).ConfigureAwait(false); }
            catch { lease.Dispose(); throw; }
            if (r.Error != RetryOnActive) return (lease, r);
            lease.Dispose();
            lease = Enter(ctx);
        }
    }

    /// <summary>
    /// Moves <paramref name="file"/> to <paramref name="g"/>: drain the old fd on its own graph
    /// with an fsync-style barrier (never FLUSH: that is close(), and it releases the owner's
    /// POSIX locks), nameless lookup by GFID, open with the original flags minus
    /// O_CREAT|O_EXCL|O_TRUNC under the mount's trusted identity, publish, release the old fd.
    /// </summary>
    private async ValueTask<Result<Fd>> ResolveFdMissAsync(MountFile file, Graph g)
    {
        Interlocked.Increment(ref _counters.FdMisses);
        await file.MigrationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (file.Released) return Errno.EBADF;
            // Failed closed by a caller that held the lock before us (its rebind was refused): the
            // file stays where its locks are, and a second attempt would only fail (and count) again.
            if (file.Failure != Errno.OK) return file.Failure;
            var old = file.Fd;
            var og = old.Graph!;
            if (ReferenceEquals(og, g))
                return old.TryRef() ? old : Errno.EBADF; // a concurrent caller migrated it: use that
            if (og.Generation > g.Generation) return RetryOnActive; // forward only

            var ctx = MigrationContext(file, g);
            var e = await DrainAsync(file, old, og).ConfigureAwait(false);
            if (e == Errno.OK)
            {
                var inode = await ResolveAsync(ctx, file.Node, g).ConfigureAwait(false);
                if (!inode.Ok) e = inode.Error == Errno.ENOENT ? Errno.ESTALE : inode.Error;
                else
                {
                    var fresh = new Fd(inode.Value, file.Flags & ~MigrationDroppedFlags, old.Pid, file.LockOwner);
                    e = file.IsDirectory
                        ? await g.Top.OpendirAsync(ctx, Loc.Of(inode.Value), fresh).ConfigureAwait(false)
                        : await g.Top.OpenAsync(ctx, Loc.Of(inode.Value), fresh.Flags, fresh).ConfigureAwait(false);
                    if (e == Errno.ENOENT) e = Errno.ESTALE;
                    // Locks held or awaited through the old brick fd move to the new one before
                    // the old one can be released (DESIGN invariant 4): no moment without them.
                    if (e == Errno.OK && file.HasLocked) e = await RebindAsync(ctx, file, old, fresh).ConfigureAwait(false);
                    if (e != Errno.OK) await PutFdAsync(fresh).ConfigureAwait(false);
                    else
                    {
                        // What the old fd would still report to fsync and close goes with the file.
                        file.WriteBackErrors.Carry(old);
                        // Publish, then let go of the old fd: fops still running on it keep their
                        // own references, and its release goes to its own graph after the last.
                        file.CompareExchangeFd(fresh, old);
                        fresh.Ref();
                        var left = file.HintGraph;
                        file.HintGraph = g;
                        _graphs.AddHint(g, file);
                        file.LastMigrationError = Errno.OK;
                        Interlocked.Increment(ref _counters.MigrationsDone);
                        await PutFdAsync(old).ConfigureAwait(false);
                        if (left is not null) GraphSet.DropHint(left);
                        return fresh;
                    }
                }
            }
            // One call fails with the cause; the file stays where it was and the next call tries again.
            file.LastMigrationError = e;
            Interlocked.Increment(ref _counters.MigrationsFailed);
            LogMigrationFailed(_log, file.Node.Gfid, og.Generation, g.Generation, e.Name());
            return e;
        }
        finally { file.MigrationLock.Release(); }
    }

    /// <summary>
    /// The barrier on the old graph: makes acknowledged (write-behind) data land before the fd moves.
    /// It is an fsync the application did not ask for, so its failure is the application's to hear
    /// at its next fsync and close, not the answer of whatever call caused the move: a failure is
    /// recorded on the old file's write-back errors (which the move carries) and the file moves on.
    /// Only "the brick cannot be reached now" fails the call, to be tried again by the next one.
    /// </summary>
    private async ValueTask<Errno> DrainAsync(MountFile file, Fd old, Graph og)
    {
        // Nothing is pending behind a directory. A read-only fd has nothing of its own, but while
        // the old graph holds bytes (written through other fds of the file) it waits for them too:
        // if they fail, this open file must carry that as well.
        if (file.IsDirectory) return Errno.OK;
        if ((file.Flags & OpenFlags.O_ACCMODE) == OpenFlags.O_RDONLY && BytesHeld(og) == 0) return Errno.OK;
        var e = Errno.OK;
        if (og.State != GraphState.Destroyed)
        {
            using var lease = GraphSet.Hold(og);
            if (og.State != GraphState.Destroyed)
                e = await og.Top.FsyncAsync(MigrationContext(file, og), old, dataOnly: true).ConfigureAwait(false);
        }
        if (og.State == GraphState.Destroyed)
        {
            // Torn down by force, before or during the barrier: nothing is left to drain, and what
            // was lost is recorded on the file by the teardown (write-behind's fini). Wait for that,
            // so the move carries it.
            await og.Destroyed.ConfigureAwait(false);
            return Errno.OK;
        }
        if (e is Errno.OK or Errno.ENOTCONN or Errno.ETIMEDOUT or Errno.EINTR) return e;
        old.Inode.WriteBackErrors.Record(e);
        return Errno.OK;
    }

    /// <summary>
    /// The mount's own trusted identity: the caller's permission was checked when the file was
    /// opened, and a later chmod must not keep the file from moving.
    /// </summary>
    private FopContext MigrationContext(MountFile file, Graph g) => new()
    {
        Uid = 0, Gid = 0, Pid = file.Fd.Pid, LockOwner = file.LockOwner, MountId = Options.MountId, Graph = g,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "migration of {Gfid} from graph {Old} to graph {New} failed: {Error}; the next call retries")]
    private static partial void LogMigrationFailed(ILogger log, Gfid gfid, long old, long @new, string error);
}
