using System.Runtime.CompilerServices;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

/// <summary>How resolving an open file's fd on a graph ended.</summary>
public enum FdResolution
{
    /// <summary>The fd on that graph, with a reference the caller drops.</summary>
    Ready,
    /// <summary>The file has already moved to a graph newer than the caller's: enter the active graph and ask again (files only move forward).</summary>
    MovedPast,
    /// <summary>This call fails with <see cref="FdOutcome.Error"/>; the file stays where it was (or failed closed).</summary>
    Failed,
}

/// <summary>The typed answer of <see cref="FileMigrator.ResolveAsync"/>.</summary>
public readonly struct FdOutcome
{
    private FdOutcome(FdResolution kind, Fd? fd, Errno error) { Kind = kind; Fd = fd; Error = error; }

    public FdResolution Kind { get; }
    /// <summary>Set when <see cref="Kind"/> is <see cref="FdResolution.Ready"/>.</summary>
    public Fd? Fd { get; }
    /// <summary>Why the call fails, when <see cref="Kind"/> is <see cref="FdResolution.Failed"/>.</summary>
    public Errno Error { get; }

    public static FdOutcome Ready(Fd fd) => new(FdResolution.Ready, fd, Errno.OK);
    public static FdOutcome Failed(Errno e) => new(FdResolution.Failed, null, e);
    public static readonly FdOutcome MovedPast = new(FdResolution.MovedPast, null, Errno.OK);
}

/// <summary>
/// Moves open files from older graphs to the one a fop entered (DESIGN invariants 4 and 7): the
/// fd miss path, single-flight under the file's own async lock, with the re-binding of the file's
/// locks and the fail-closed rule. Nothing else waits: other files and other requests go on.
/// </summary>
internal sealed partial class FileMigrator
{
    private const int DroppedFlags = OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_TRUNC;

    private readonly MountSession _session; // node resolution and fd release
    private readonly GraphSet _graphs;
    private readonly SessionCounters _counters;
    private readonly ILogger _log;
    private readonly Guid _mountId;

    public FileMigrator(MountSession session, GraphSet graphs, SessionCounters counters, ILogger log, Guid mountId)
    {
        _session = session;
        _graphs = graphs;
        _counters = counters;
        _log = log;
        _mountId = mountId;
    }

    /// <summary>
    /// The file's fd on <paramref name="g"/>, with a reference the caller drops (the reference
    /// keeps the fd alive if a migration replaces it while the fop still runs on it). A hit takes
    /// no lock and allocates nothing; a miss moves the file.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask<FdOutcome> ResolveAsync(MountFile file, Graph g)
    {
        var fd = file.Fd;
        if (ReferenceEquals(fd.Inode.Table.Graph, g) && fd.TryRef()) return new(FdOutcome.Ready(fd));
        return MoveAsync(file, g);
    }

    /// <summary>
    /// Moves <paramref name="file"/> to <paramref name="g"/>: drain the old fd on its own graph
    /// with an fsync-style barrier (never FLUSH: that is close(), and it releases the owner's
    /// POSIX locks), nameless lookup by GFID, open with the original flags minus
    /// O_CREAT|O_EXCL|O_TRUNC under the mount's trusted identity, re-bind the locks, publish,
    /// release the old fd.
    /// </summary>
    private async ValueTask<FdOutcome> MoveAsync(MountFile file, Graph g)
    {
        Interlocked.Increment(ref _counters.FdMisses);
        await file.MigrationLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (file.Released) return FdOutcome.Failed(Errno.EBADF);
            // Failed closed by a caller that held the lock before us (its rebind was refused): the
            // file stays where its locks are, and a second attempt would only fail (and count) again.
            if (file.Failure != Errno.OK) return FdOutcome.Failed(file.Failure);
            var old = file.Fd;
            var og = old.Graph!;
            if (ReferenceEquals(og, g)) // a concurrent caller moved it: use that
                return old.TryRef() ? FdOutcome.Ready(old) : FdOutcome.Failed(Errno.EBADF);
            if (og.Generation > g.Generation) return FdOutcome.MovedPast;

            var ctx = ContextFor(file, g);
            var e = await DrainAsync(file, old, og).ConfigureAwait(false);
            if (e == Errno.OK)
            {
                var inode = await _session.ResolveAsync(ctx, file.Node, g).ConfigureAwait(false);
                if (!inode.Ok) e = inode.Error == Errno.ENOENT ? Errno.ESTALE : inode.Error;
                else
                {
                    var fresh = new Fd(inode.Value, file.Flags & ~DroppedFlags, old.Pid, file.LockOwner) { ReleaseInline = old.ReleaseInline };
                    e = file.IsDirectory
                        ? await g.Top.OpendirAsync(ctx, Loc.Of(inode.Value), fresh).ConfigureAwait(false)
                        : await g.Top.OpenAsync(ctx, Loc.Of(inode.Value), fresh.Flags, fresh).ConfigureAwait(false);
                    if (e == Errno.ENOENT) e = Errno.ESTALE;
                    // Locks held or awaited through the old brick fd move to the new one before
                    // the old one can be released (DESIGN invariant 4): no moment without them.
                    if (e == Errno.OK && file.HasLocked) e = await RebindAsync(ctx, file, old, fresh).ConfigureAwait(false);
                    if (e != Errno.OK) await _session.PutFdAsync(fresh).ConfigureAwait(false);
                    else
                    {
                        var left = Publish(file, old, fresh, g);
                        await _session.PutFdAsync(old).ConfigureAwait(false);
                        // The old graph's hint goes last: until the old fd's release has been sent
                        // (here, or by the last fop still on it), the old graph must not go idle.
                        if (left is not null) GraphSet.DropHint(left);
                        return FdOutcome.Ready(fresh);
                    }
                }
            }
            // One call fails with the cause; the file stays where it was and the next call tries again.
            file.LastMigrationError = e;
            Interlocked.Increment(ref _counters.MigrationsFailed);
            LogMigrationFailed(_log, file.Node.Gfid, og.Generation, g.Generation, e.Name());
            return FdOutcome.Failed(e);
        }
        finally { file.MigrationLock.Release(); }
    }

    /// <summary>
    /// Publishes <paramref name="fresh"/> as the file's fd and points its hint at <paramref name="g"/>;
    /// returns the graph whose hint the caller drops once it has let go of the old fd. What the old
    /// fd would still report to fsync and close goes with the file. Fops still running on the old
    /// fd keep their own references.
    /// </summary>
    private Graph? Publish(MountFile file, Fd old, Fd fresh, Graph g)
    {
        file.WriteBackErrors.Carry(old);
        file.CompareExchangeFd(fresh, old);
        fresh.Ref(); // the caller's, beside the file's own
        var left = file.HintGraph;
        file.HintGraph = g;
        _graphs.AddHint(g, file);
        file.LastMigrationError = Errno.OK;
        Interlocked.Increment(ref _counters.MigrationsDone);
        return left;
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
        if ((file.Flags & OpenFlags.O_ACCMODE) == OpenFlags.O_RDONLY && MountSession.BytesHeld(og) == 0) return Errno.OK;
        var e = Errno.OK;
        if (og.State != GraphState.Destroyed)
        {
            using var lease = GraphSet.Hold(og);
            if (og.State != GraphState.Destroyed)
                e = await og.Top.FsyncAsync(ContextFor(file, og), old, dataOnly: true).ConfigureAwait(false);
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
    /// Moves the locks of <paramref name="file"/> from brick fd <paramref name="old"/> to
    /// <paramref name="fresh"/> (same file, newer graph). A transient failure (the brick is not
    /// reachable right now) fails this call and leaves the file where it is, still holding its
    /// locks through the old fd; anything else fails the file closed: EIO on every later call,
    /// never silently unlocked.
    /// </summary>
    public async ValueTask<Errno> RebindAsync(FopContext ctx, MountFile file, Fd old, Fd fresh)
    {
        var og = old.Graph!;
        var r = og.State == GraphState.Destroyed
            ? new Result<int>(Errno.ENOTCONN)
            : await fresh.Graph!.Top.RebindLocksAsync(ctx, old, fresh).ConfigureAwait(false);
        if (r.Ok) { Interlocked.Add(ref _counters.LocksRebound, r.Value); return Errno.OK; }
        if (og.State != GraphState.Destroyed && r.Error is Errno.ENOTCONN or Errno.ETIMEDOUT or Errno.EINTR) return r.Error;
        file.FailClosed(Errno.EIO);
        Interlocked.Increment(ref _counters.LocksLost);
        LogRebindFailed(_log, file.Node.Gfid, og.Generation, fresh.Graph!.Generation, r.Error.Name());
        return Errno.EIO;
    }

    /// <summary>
    /// The mount's own trusted identity: the caller's permission was checked when the file was
    /// opened, and a later chmod must not keep the file from moving.
    /// </summary>
    public FopContext ContextFor(MountFile file, Graph g) => new()
    {
        Uid = 0, Gid = 0, Pid = file.Fd.Pid, LockOwner = file.LockOwner, MountId = _mountId, Graph = g,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "migration of {Gfid} from graph {Old} to graph {New} failed: {Error}; the next call retries")]
    private static partial void LogMigrationFailed(ILogger log, Gfid gfid, long old, long @new, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "locks of {Gfid} could not move from graph {Old} to graph {New} ({Error}); the file fails closed (EIO)")]
    private static partial void LogRebindFailed(ILogger log, Gfid gfid, long old, long @new, string error);
}
