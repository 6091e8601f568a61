using Graft.Core;

namespace Graft.Xlators.Features.Locks;

/// <summary>
/// features/locks: POSIX (fcntl) byte-range locks and flock whole-file locks, kept on the brick.
/// A lock belongs to the file (by GFID, so fds opened on different graphs or reopened after a
/// switch name the same lock state) and to its owner (mount identity, kernel lock owner): never
/// to a graph generation (DESIGN invariant 9). Blocked requests wait in a fair per-file queue.
/// </summary>
/// <remarks>
/// Release rules: FLUSH drops the flushing owner's fcntl locks on that file (close of any fd);
/// RELEASE drops the flocks held through that fd; <see cref="ReleaseClient"/> drops everything a
/// mount holds (the server calls it when a client is gone for good). <see cref="Rebind"/> moves
/// held and waiting locks from one fd to another with no window (fd migration, DESIGN invariant 4).
/// During the lock grace after a start (LocksTranslator.Grace.cs) only reclaims and unlocks are
/// answered at once. Lock order: the grace marker's lock, then the state map's lock, then one
/// file's lock, then the wait-for graph's lock.
/// </remarks>
public sealed partial class LocksTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("features/locks", () => new LocksTranslator(),
    [
        new("deadlock-detection", OptionKind.Bool, "on",
            "refuse with EDEADLK a blocking fcntl lock whose wait would close a cycle of owners waiting for each other") { Runtime = true },
        new("deadlock-search-limit", OptionKind.Int, "1024",
            "most wait-for edges one deadlock check follows; bounds the work done under the check's lock") { Min = 1, Max = 1 << 20, Runtime = true },
        new("max-waiters-per-file", OptionKind.Int, "4096",
            "blocked lock requests one file may queue; one more gets ENOLCK instead of growing the queue without bound") { Min = 1, Max = 1 << 24, Runtime = true },
        new("max-locks-per-client", OptionKind.Int, "16384",
            "locks (fcntl ranges, flocks and domain locks) one client mount may hold on this brick, over all its sessions; a lock, or an unlock that would split one, past it gets ENOLCK") { Min = 1, Max = 1 << 24, Runtime = true },
        new("lock-grace", OptionKind.Time, "10",
            "after the brick starts, how long only lock reclaims and unlocks are answered, so clients that held locks before a restart get them back before anyone else can take them; 0 = no grace") { Min = 0, Max = 3_600_000, Runtime = true },
        new("domain-lock-timeout", OptionKind.Time, "60",
            "how long a blocking inodelk or entrylk may wait for its turn; past it the request gets EAGAIN (below protocol/client's frame-timeout, so the caller hears the brick's answer)") { Min = 1, Max = 3_600_000, Runtime = true },
        new("grace-marker", OptionKind.Path, null,
            "a file that exists while any lock is held here; at start, no such file means nothing to reclaim and no grace. Unset: the grace always applies at start"),
    ], "POSIX byte-range locks and flock locks owned by (mount, lock owner), with a fair wait queue; inodelk/entrylk domain locks for cluster translators")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private readonly object _mapSync = new();
    private readonly Dictionary<Gfid, InodeLockState> _states = new();
    private readonly WaitForGraph _waitFor = new();
    private readonly ClientLockCounts _clients = new();
    private readonly LogThrottle _limitLog = new(TimeSpan.FromSeconds(10));
    private volatile int _maxWaiters = 4096;
    private long _granted, _conflicts, _deadlocks, _cancelled;

    protected override void ApplyOptions(OptionValues o)
    {
        _waitFor.Enabled = o.GetBool("deadlock-detection");
        _waitFor.MaxDepth = o.GetInt("deadlock-search-limit");
        _maxWaiters = o.GetInt("max-waiters-per-file");
        _clients.Max = o.GetInt("max-locks-per-client");
        SetGrace(o.GetLong("lock-grace"));
        Interlocked.Exchange(ref _domainTimeoutMs, o.GetLong("domain-lock-timeout"));
    }

    /// <summary>Graph teardown: no request may wait for a brick graph that is gone.</summary>
    public override ValueTask FiniAsync()
    {
        foreach (var s in Snapshot())
        {
            lock (s.Sync) s.FailAll(Errno.ENOTCONN);
            DropIfEmpty(s);
        }
        ReleaseDomains(static _ => true);
        FinishGrace();
        return ValueTask.CompletedTask;
    }

    // ---- state of one file ----

    /// <summary>The file's state, created on first use. A state that was emptied and dropped meanwhile is retried.</summary>
    private InodeLockState Acquire(Gfid gfid)
    {
        lock (_mapSync)
        {
            if (!_states.TryGetValue(gfid, out var s)) _states[gfid] = s = new InodeLockState(gfid, _waitFor, _clients);
            return s;
        }
    }

    private InodeLockState? Find(Gfid gfid)
    {
        lock (_mapSync) return _states.TryGetValue(gfid, out var s) ? s : null;
    }

    /// <summary>Drops a file's state once nothing is held or waiting, so memory follows the locks in use.</summary>
    private void DropIfEmpty(InodeLockState s)
    {
        lock (_mapSync)
        {
            lock (s.Sync)
            {
                if (s.Dead || !s.IsEmpty) return;
                s.Dead = true;
                _states.Remove(s.Gfid);
            }
            if (_states.Count > 0) return;
        }
        OnNoLockState();
    }

    private InodeLockState[] Snapshot()
    {
        lock (_mapSync) return [.. _states.Values];
    }

    // ---- what the server, the mount and state dumps use ----

    /// <summary>
    /// A client is gone for good (protocol/server calls this once its reconnect grace has passed):
    /// every lock its mount holds (domain locks too, whatever session they came through) is dropped
    /// and its waiting requests fail with ENOTCONN.
    /// Returns how many locks and requests were dropped.
    /// </summary>
    public int ReleaseClient(Guid mountId)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(mountId, Guid.Empty);
        int n = 0;
        foreach (var s in Snapshot())
        {
            lock (s.Sync) n += s.ReleaseMount(mountId);
            DropIfEmpty(s);
        }
        return n + ReleaseDomains(l => l.Owner.Mount == mountId);
    }

    /// <summary>
    /// Moves every lock held, and every request waiting, through <paramref name="from"/> onto
    /// <paramref name="to"/> (an fd of the same file), atomically with respect to every other lock
    /// operation: held locks are never released in between, and a waiting SETLKW keeps its place
    /// in the queue and is still granted exactly once. Call it before releasing <paramref name="from"/>.
    /// Returns how many were moved; EINVAL when the fds are of different files.
    /// </summary>
    public Result<int> Rebind(Fd from, Fd to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (from.Inode.Gfid != to.Inode.Gfid) return Errno.EINVAL;
        if (from == to) return 0;
        var s = Find(from.Inode.Gfid);
        if (s is null) return 0;
        lock (s.Sync) return s.Dead ? 0 : s.Rebind(from, to);
    }

    /// <summary>The last session of a mount ended on the server: its locks go (see <see cref="ReleaseClient"/>).</summary>
    public override void ClientGone(Guid mountId)
    {
        if (mountId != Guid.Empty) ReleaseClient(mountId);
        base.ClientGone(mountId);
    }

    /// <summary>The fop form of <see cref="Rebind"/>: both fds are this brick graph's (protocol/server found them in two sessions).</summary>
    public override ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to) => new(Rebind(from, to));

    /// <summary>Locks held plus requests waiting through one fd (how a mount checks a rebind).</summary>
    public int CountThrough(Fd fd)
    {
        var s = Find(fd.Inode.Gfid);
        if (s is null) return 0;
        lock (s.Sync) return s.CountThrough(fd);
    }

    /// <summary>Counts for state dumps and metrics.</summary>
    public LockCounts Counts
    {
        get
        {
            int files = 0, posix = 0, flocks = 0, waiters = 0;
            foreach (var s in Snapshot())
                lock (s.Sync)
                {
                    if (s.Dead) continue;
                    files++;
                    posix += s.PosixCount;
                    flocks += s.FlockCount;
                    waiters += s.WaiterCount;
                }
            var (domainHeld, domainWaiting, domainObjects) = DomainCounts();
            return new LockCounts(files, posix, flocks, waiters,
                Interlocked.Read(ref _granted), Interlocked.Read(ref _conflicts),
                Interlocked.Read(ref _deadlocks), Interlocked.Read(ref _cancelled))
            {
                InGrace = InGrace,
                ReclaimsGranted = Interlocked.Read(ref _reclaimsGranted),
                ReclaimsRefused = Interlocked.Read(ref _reclaimsRefused),
                HeldByGrace = Interlocked.Read(ref _heldByGrace),
                MarkerWrites = Interlocked.Read(ref _markerWrites),
                RefusedOverClientLimit = _clients.HeldRefused,
                RefusedQueueFull = _clients.WaitersRefused,
                DomainObjects = domainObjects,
                DomainHeld = domainHeld,
                DomainWaiting = domainWaiting,
                DomainGranted = Interlocked.Read(ref _domainGranted),
                DomainConflicts = Interlocked.Read(ref _domainConflicts),
                DomainTimeouts = Interlocked.Read(ref _domainTimeouts),
                DomainCancelled = Interlocked.Read(ref _domainCancelled),
                DomainBadUnlocks = Interlocked.Read(ref _domainBadUnlocks),
                DomainLockXattrops = Interlocked.Read(ref _domainLockXattrops),
                DomainLockedCreates = Interlocked.Read(ref _domainLockedCreates),
            };
        }
    }

    /// <summary>For state dumps and metrics: what is held and waiting now, and what was done.</summary>
    public override IReadOnlyDictionary<string, long> Counters
    {
        get
        {
            var c = Counts;
            return new Dictionary<string, long>
            {
                ["posixHeld"] = c.PosixHeld, ["flocksHeld"] = c.FlocksHeld, ["waiting"] = c.Waiting, ["granted"] = c.Granted,
                ["conflicts"] = c.Conflicts, ["deadlocks"] = c.Deadlocks, ["cancelled"] = c.Cancelled,
                ["domainHeld"] = c.DomainHeld, ["domainWaiting"] = c.DomainWaiting, ["domainGranted"] = c.DomainGranted,
                ["domainConflicts"] = c.DomainConflicts, ["domainTimeouts"] = c.DomainTimeouts, ["domainCancelled"] = c.DomainCancelled,
                ["domainBadUnlocks"] = c.DomainBadUnlocks, ["domainLockXattrops"] = c.DomainLockXattrops,
                ["domainLockedCreates"] = c.DomainLockedCreates,
            };
        }
    }

    /// <summary>One line per held lock and per waiting request, for a state dump.</summary>
    public IReadOnlyList<string> DumpState()
    {
        var lines = new List<string>();
        if (InGrace) lines.Add($"lock grace: {Math.Max(0, GraceLeftMs)} ms left, {Interlocked.Read(ref _reclaimsGranted)} reclaim(s) granted");
        foreach (var s in Snapshot())
            lock (s.Sync) lines.AddRange(s.Dump());
        foreach (var d in DomainSnapshot())
            lock (d.Sync) lines.AddRange(d.Dump());
        return lines;
    }
}

/// <summary>
/// What a locks translator holds now (files with state, fcntl ranges held, flocks held, requests
/// waiting) and has done (locks granted, requests refused on a conflict, EDEADLK answers, waits
/// cancelled), and its lock grace: whether it is in it, reclaims granted and refused, requests
/// that had to wait for the grace to end, grace marker writes.
/// </summary>
public readonly record struct LockCounts(int Files, int PosixHeld, int FlocksHeld, int Waiting,
                                         long Granted, long Conflicts, long Deadlocks, long Cancelled)
{
    public int Held => PosixHeld + FlocksHeld;
    public bool InGrace { get; init; }
    public long ReclaimsGranted { get; init; }
    public long ReclaimsRefused { get; init; }
    public long HeldByGrace { get; init; }
    /// <summary>Times the grace marker was written (once per "nothing locked → something locked", debounced).</summary>
    public long MarkerWrites { get; init; }
    /// <summary>Requests refused with ENOLCK because their mount would have held more than max-locks-per-client.</summary>
    public long RefusedOverClientLimit { get; init; }
    /// <summary>Blocking requests refused with ENOLCK because their file's queue held max-waiters-per-file.</summary>
    public long RefusedQueueFull { get; init; }
    /// <summary>Domain locks (inodelk, entrylk): (kind, object, domain) states with any, locks held, blocking requests waiting.</summary>
    public int DomainObjects { get; init; }
    public int DomainHeld { get; init; }
    public int DomainWaiting { get; init; }
    /// <summary>Domain locks granted (at once or after a wait), refused on a conflict (EAGAIN), waits that passed domain-lock-timeout (EAGAIN), waits cancelled (EINTR).</summary>
    public long DomainGranted { get; init; }
    public long DomainConflicts { get; init; }
    public long DomainTimeouts { get; init; }
    public long DomainCancelled { get; init; }
    /// <summary>Domain unlocks of a lock the owner did not hold (EINVAL).</summary>
    public long DomainBadUnlocks { get; init; }
    /// <summary>inodelk-xattrop requests served (a lock with its pre-op, or a post-op with its unlock).</summary>
    public long DomainLockXattrops { get; init; }
    /// <summary>create-inodelk-xattrop requests served (a create with its file's lock and pre-op; each whose lock and add were both had also counts in <see cref="DomainLockXattrops"/>).</summary>
    public long DomainLockedCreates { get; init; }
}
