using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>
/// cluster/replicate (alias cluster/afr): keeps a full copy of every file and directory on each
/// subvolume. Every change goes to all subvolumes that are up inside a transaction whose pending
/// counters (<see cref="Pending"/>, xattrs on each copy) say, after any failure, which copies
/// missed what; reads go to one copy no other copy blames. All state is on the bricks, never only
/// here, so any client and any new graph sees the same truth. See docs/replicate.md.
/// </summary>
/// <remarks>
/// Split by aspect: Transaction (lock, pre-op, fop, post-op, quorum), Writes (eager lock and the
/// delayed post-op of consecutive writes), Reads (read-child choice and retry), Lookup (pending
/// state, GFID agreement), Entry (namespace fops), Files (fd fops, attributes, xattrs, locks); Handoffs.cs has the
/// signals and the mutex whose waiters go on where their context allows.
/// Children are at most 32 so that sets of them are bit masks (no allocation to pick a reader).
/// </remarks>
[RoutesEveryFop]
public sealed partial class ReplicateTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("cluster/replicate", () => new ReplicateTranslator(),
    [
        new("read-policy", OptionKind.Enum, "gfid-hash",
            "which healthy copy serves a file's reads: first-up (the first subvolume that is up and not blamed), gfid-hash (spread by file, so each file's reads stay on one brick's cache), least-loaded (the one with the fewest reads in flight from this client)")
            { Choices = ["first-up", "gfid-hash", "least-loaded"], Runtime = true },
        new("quorum-type", OptionKind.Enum, "auto",
            "how many subvolumes must be up, and must commit a change, for it to be made and acknowledged: auto = more than half (exactly half when it includes the first subvolume); fixed = quorum-count; none = one. Without quorum changes fail with EROFS and reads go on")
            { Choices = ["auto", "fixed", "none"], Runtime = true },
        new("quorum-count", OptionKind.Int, "1", "the quorum when quorum-type is fixed") { Min = 1, Max = 32, Runtime = true },
        new("post-op-delay", OptionKind.Time, "1s",
            "how long consecutive writes to a file share one transaction (eager lock, delayed post-op): the window opened by a write ends this long after, or at once on fsync, flush, close or any other change to the file; another client wanting the file waits at most this long. 0: every write is its own transaction") { Min = 0, Max = 60_000, Runtime = true },
        new("optimistic-change-log", OptionKind.Bool, "on",
            "namespace changes (create, mkdir, unlink, rename, ...) made while every subvolume is up and locked skip the pre-op and post-op; only a copy that fails the change is blamed, after it. A client that dies between the copies of such a change leaves a name on some copies only: a lookup of the name adds it to the others (never removes one), and `graft heal`, which goes by the counters, does not see it. off: every namespace change counts on every copy first") { Runtime = true },
        new("entry-lock-delay", OptionKind.Time, "100ms",
            "how long consecutive namespace changes (create, mkdir, unlink, rename, ...) of this client in one directory share one entry lock on the bricks (eager entry lock) while every subvolume is up and optimistic-change-log is on: the lock is given back this long after it was taken, or at once on fsyncdir, a heal of the directory, any other change to it, a subvolume going down or coming back, or the graph going down; another client wanting a name in the directory waits at most this long. 0: every change takes and gives back its own") { Min = 0, Max = 60_000, Runtime = true },
        new("subvolume-wait", OptionKind.Time, "3s",
            "after the first subvolume is up, how long to wait for the others before telling the graph it is up") { Min = 0, Max = 600_000 },
        new("self-heal", OptionKind.Bool, "on",
            "heal an object in the background when a lookup finds a copy of it that needs heal (off: only `graft heal` heals)") { Runtime = true },
        new("heal-chunk", OptionKind.Size, "128KB",
            "how much of a file a heal copies per hold of the file's lock: the longest an application's I/O on the file waits for a heal") { Min = 4096, Max = 16 << 20, Runtime = true },
        new("favorite-child-policy", OptionKind.Enum, "none",
            "how a split brain (copies that blame each other) is resolved without an administrator: none (never: EIO until `graft heal --split-brain-source`), mtime (the latest modified copy), size (the biggest), majority (the state more than half the copies share)")
            { Choices = ["none", "mtime", "size", "majority"], Runtime = true },
        new("lock-domain", OptionKind.String, "graft.replicate",
            "the inodelk/entrylk domain of this translator's transaction locks on the bricks (every client of a volume must use the same)"),
    ], "keeps a copy of every file on each subvolume: transactions with pending counters, quorum, reads from a healthy copy (GlusterFS's afr)")
    {
        MinChildren = 2,
        MaxChildren = 32,
    };

    /// <summary>The same translator under GlusterFS's name.</summary>
    public static readonly XlatorSpec AliasSpec = Spec with { Type = "cluster/afr" };

    internal enum ReadPolicy { FirstUp, GfidHash, LeastLoaded }
    internal enum QuorumType { Auto, Fixed, None }
    internal enum Favourite { None, Mtime, Size, Majority }

    private ReadPolicy _readPolicy;
    private QuorumType _quorumType;
    private int _quorumCount;
    private long _postOpDelayMs;
    private long _healChunk = 128 << 10;
    private volatile bool _selfHeal = true;
    private volatile bool _optimisticChangeLog = true;
    private Favourite _favourite;
    private string _domain = "graft.replicate";
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    // Which children are up (CHILD_UP seen, no CHILD_DOWN since). A child that answers ENOTCONN
    // while up only fails that call: its own CHILD_DOWN says when it is gone.
    private ChildrenUp? _childrenUp;
    private uint _allMask;
    private string[] _pendingNames = [];
    private int[] _readsInFlight = [];

    private long _transactions, _optimisticEntries, _namesMerged, _preOps, _postOps, _delayedPostOps, _blamed, _readRetries, _quorumRefusals, _gfidMismatches, _splitBrainRefusals;
    private long _lockedCreates, _releasedPostOps;

    /// <summary>For `graft state`: what this translator did on its graph.</summary>
    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["transactions"] = Volatile.Read(ref _transactions), ["optimisticEntryChanges"] = Volatile.Read(ref _optimisticEntries),
        ["entryLeases"] = Volatile.Read(ref _leasesTaken), ["leasedEntryChanges"] = Volatile.Read(ref _leasedChanges), ["preOps"] = Volatile.Read(ref _preOps),
        ["postOps"] = Volatile.Read(ref _postOps), ["delayedPostOps"] = Volatile.Read(ref _delayedPostOps),
        ["lockedCreates"] = Volatile.Read(ref _lockedCreates), ["releasedPostOps"] = Volatile.Read(ref _releasedPostOps), ["openWindows"] = _windows.Count,
        ["copiesBlamed"] = Volatile.Read(ref _blamed), ["readRetries"] = Volatile.Read(ref _readRetries),
        ["quorumRefusals"] = Volatile.Read(ref _quorumRefusals), ["gfidMismatches"] = Volatile.Read(ref _gfidMismatches),
        ["splitBrainRefusals"] = Volatile.Read(ref _splitBrainRefusals), ["namesMerged"] = Volatile.Read(ref _namesMerged),
        ["healsDone"] = Volatile.Read(ref _healsDone), ["healsFailed"] = Volatile.Read(ref _healsFailed), ["healedBytes"] = Volatile.Read(ref _healedBytes), ["childrenUp"] = _childrenUp?.Count ?? 0,
    };

    /// <summary>Pre-ops written (one per transaction, or per window of consecutive writes).</summary>
    public long PreOps => Volatile.Read(ref _preOps);
    public long DelayedPostOps => Volatile.Read(ref _delayedPostOps);
    /// <summary>Write windows opened by a create that took the new file's lock and pre-op with it on every copy.</summary>
    public long LockedCreates => Volatile.Read(ref _lockedCreates);
    /// <summary>Write windows whose post-op and unlock went with the release of an fd, on at least one copy.</summary>
    public long ReleasedPostOps => Volatile.Read(ref _releasedPostOps);
    /// <summary>Names added to the copies that lacked them with nothing pending (a namespace change cut off between copies).</summary>
    public long NamesMerged => Volatile.Read(ref _namesMerged);

    public override ValueTask InitAsync(CancellationToken ct)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in Children)
            if (!names.Add(c.Name)) throw new ArgumentException($"{this}: subvolume '{c.Name}' is named twice");
        _allMask = Children.Count == 32 ? uint.MaxValue : (1u << Children.Count) - 1;
        _pendingNames = Children.Select(c => Pending.NameFor(c.Name)).ToArray();
        _readsInFlight = new int[Children.Count];
        _childrenUp = new ChildrenUp(Children, Options.GetLong("subvolume-wait"), NotifyParents);
        _domain = Options.GetString("lock-domain");
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Replicate");
        return base.InitAsync(ct);
    }

    protected override void ApplyOptions(OptionValues options)
    {
        _readPolicy = options.GetString("read-policy") switch { "first-up" => ReadPolicy.FirstUp, "least-loaded" => ReadPolicy.LeastLoaded, _ => ReadPolicy.GfidHash };
        _quorumType = options.GetString("quorum-type") switch { "fixed" => QuorumType.Fixed, "none" => QuorumType.None, _ => QuorumType.Auto };
        _quorumCount = options.GetInt("quorum-count");
        if (_quorumType == QuorumType.Fixed && Children.Count > 0 && _quorumCount > Children.Count)
            throw new ArgumentException($"{this}: quorum-count {_quorumCount} is more than its {Children.Count} subvolumes");
        Volatile.Write(ref _postOpDelayMs, options.GetLong("post-op-delay"));
        Volatile.Write(ref _entryLockDelayMs, options.GetLong("entry-lock-delay"));
        Volatile.Write(ref _healChunk, options.GetLong("heal-chunk"));
        _selfHeal = options.GetBool("self-heal");
        _optimisticChangeLog = options.GetBool("optimistic-change-log");
        _favourite = options.GetString("favorite-child-policy") switch { "mtime" => Favourite.Mtime, "size" => Favourite.Size, "majority" => Favourite.Majority, _ => Favourite.None };
    }

    public override ValueTask FiniAsync()
    {
        _childrenUp?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// PARENT_DOWN: every delayed post-op is done before the children go down, so no copy is left
    /// blamed for nothing; every eager entry lock is given back.
    /// </summary>
    protected override async ValueTask DrainAsync()
    {
        await CloseAllWindowsAsync().ConfigureAwait(false);
        await CloseAllLeasesAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// CHILD_UP and CHILD_DOWN of the children (see <see cref="ChildrenUp"/>); a child's own up/down
    /// is what quorum and the read choice go by.
    /// </summary>
    public override void Notify(GraphEvent ev, Translator? from)
    {
        int i = _childrenUp?.Notify(ev, from) ?? -1;
        if (i < 0) { base.Notify(ev, from); return; }
        if (ev == GraphEvent.ChildDown) LogChildDown(_log, Name, Children[i].Name);
        // Whether it has create-/release-inodelk-xattrop is asked again of the brick it talks to next.
        Interlocked.And(ref _noLockedOps, ~(1u << i));
        // A brick that went down took this client's eager entry locks with it (and one back up has none):
        // none is used again, and the others are given back.
        LoseLeases();
    }

    /// <summary>Children that are up, as a mask.</summary>
    internal uint UpMask => _childrenUp?.Mask ?? 0;

    /// <summary>How many children must be up and commit a change (quorum-type).</summary>
    internal int Quorum => _quorumType switch
    {
        QuorumType.None => 1,
        QuorumType.Fixed => _quorumCount,
        _ => Children.Count / 2 + 1,
    };

    /// <summary>
    /// Whether the children in <paramref name="mask"/> make a quorum. With auto and an even count,
    /// exactly half is enough when it includes the first child, so two halves never both write.
    /// </summary>
    internal bool HasQuorum(uint mask)
    {
        int n = BitOperations.PopCount(mask);
        if (_quorumType == QuorumType.Auto && Children.Count % 2 == 0 && n == Children.Count / 2) return (mask & 1) != 0;
        return n >= Quorum;
    }

    /// <summary>The mount's trusted identity for internal work (pending counters, locks, heals) done on behalf of <paramref name="ctx"/>'s call.</summary>
    /// <remarks>ContinueInline is carried over: replicate's own code after each reply never blocks, so a transaction's
    /// locks, pre-ops and post-ops go on where their replies arrive when the caller's would (the FUSE bridge's), with no
    /// thread-pool hand-off per brick reply. A context kept past the fop (a write window's, an eager entry lock's) is
    /// later awaited only by fops of the same front end, whose contexts say the same.</remarks>
    private static FopContext Trusted(FopContext ctx) => new()
    {
        Uid = 0, Gid = 0, Pid = ctx.Pid, MountId = ctx.MountId, Graph = ctx.Graph, LockOwner = ctx.LockOwner,
        Cancellation = ctx.Cancellation, ContinueInline = ctx.ContinueInline,
    };

    /// <summary>Runs <paramref name="call"/> on each child in <paramref name="mask"/> at once; results by child index (untouched entries: ENOTCONN).</summary>
    private async ValueTask<Result<T>[]> FanOutAsync<T>(uint mask, Func<int, ValueTask<Result<T>>> call)
    {
        var pending = new ValueTask<Result<T>>[Children.Count];
        var results = new Result<T>[Children.Count];
        for (int i = 0; i < results.Length; i++)
        {
            if ((mask & (1u << i)) != 0) pending[i] = call(i);
            else results[i] = Errno.ENOTCONN;
        }
        bool unreachable = false;
        for (int i = 0; i < results.Length; i++)
        {
            if ((mask & (1u << i)) == 0) continue;
            results[i] = await pending[i].ConfigureAwait(false);
            unreachable |= !results[i].Ok && results[i].Error == Errno.ENOTCONN;
        }
        if (unreachable) LoseLeases();
        return results;
    }

    private async ValueTask<Result<bool>[]> FanOutAsync(uint mask, Func<int, ValueTask<Errno>> call) =>
        await FanOutAsync(mask, async i => { var e = await call(i).ConfigureAwait(false); return e == Errno.OK ? new Result<bool>(true) : e; }).ConfigureAwait(false);

    /// <summary>The children whose result is OK, as a mask.</summary>
    private static uint Succeeded<T>(Result<T>[] r)
    {
        uint m = 0;
        for (int i = 0; i < r.Length; i++) if (r[i].Ok) m |= 1u << i;
        return m;
    }

    /// <summary>The first result that is OK, else the most telling error (anything before ENOTCONN).</summary>
    private static Result<T> FirstOk<T>(Result<T>[] r, uint mask)
    {
        Errno err = Errno.ENOTCONN;
        for (int i = 0; i < r.Length; i++)
        {
            if ((mask & (1u << i)) == 0) continue;
            if (r[i].Ok) return r[i];
            if (err == Errno.ENOTCONN) err = r[i].Error;
        }
        return err;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: subvolume {Child} is down; changes made meanwhile are marked for heal on the others")]
    private static partial void LogChildDown(ILogger log, string name, string child);
}
