using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>
/// cluster/distribute (alias cluster/dht): spreads a volume's files over its subvolumes by the
/// hash of each name. Every directory exists on every subvolume with one GFID; each copy holds its
/// share of the directory's hash space (its <see cref="Layout"/>) in an xattr; a file lives on
/// the subvolume whose range holds its name's hash, or is reached from there through a link
/// pointer. All state is on the bricks (layouts, pointers), never only here, so every client and
/// every new graph sees the same truth. See docs/distribute.md.
/// </summary>
/// <remarks>
/// The fops are split by aspect: Lookup (named, nameless, link pointers), Entry (create, mkdir,
/// rmdir, unlink, link), Rename, Readdir, Files (fd fops, attributes, xattrs, locks), Heal
/// (directories missing on some subvolumes, layouts), Layout (reading and caching layouts).
/// Internal work (layouts, heals, link pointers) runs as the mount's trusted identity; what a user
/// asked for is always sent under the user's identity, so the bricks judge it.
/// </remarks>
[RoutesEveryFop]
public sealed partial class DistributeTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("cluster/distribute", () => new DistributeTranslator(),
    [
        new("lookup-unhashed", OptionKind.Enum, "auto",
            "where a name missing on its hashed subvolume is looked for: on = on every subvolume; off = nowhere (only safe when every file is where its layout puts it); auto = everywhere unless the directory's layout is settled")
            { Choices = ["auto", "on", "off"], Runtime = true },
        new("layout-refresh", OptionKind.Time, "1s",
            "how old a cached directory layout may be when it places a new name; an older one is read again from the subvolumes first") { Min = 0, Max = 3_600_000, Runtime = true },
        new("subvolume-wait", OptionKind.Time, "3s",
            "after the first subvolume is up, how long to wait for the others before telling the graph it is up (a subvolume still down then gives ENOTCONN for its files)") { Min = 0, Max = 600_000 },
        new("migration-wait", OptionKind.Time, "30s",
            "how long a change to a file that a rebalance is moving (open for writing, truncate, attributes, xattrs, unlink, rename, link) waits for the move before it fails with EBUSY") { Min = 0, Max = 3_600_000, Runtime = true },
        new("migrate-yield", OptionKind.Time, "1s",
            "a rebalance moving a file gives way (stops, leaves the file where it is and reports it busy) once a writer has waited this long for it; 0: never gives way") { Min = 0, Max = 3_600_000, Runtime = true },
        new("postparent-max-age", OptionKind.Time, "1s",
            "how recently every copy of a directory must have been seen for a create or unlink to hand up the directory's merged attributes (performance/md-cache answers the next stat with them); 0: never") { Min = 0, Max = 60_000, Runtime = true },
        new("decommissioned", OptionKind.String, "",
            "subvolumes being drained before they leave the volume (remove-brick), comma-separated: no new layout gives them a range and no new name goes to them") { Runtime = true },
    ], "spreads files over its subvolumes by the hash of their names (GlusterFS's dht)")
    {
        MinChildren = 1,
        MaxChildren = int.MaxValue,
    };

    /// <summary>The same translator under GlusterFS's name.</summary>
    public static readonly XlatorSpec AliasSpec = Spec with { Type = "cluster/dht" };

    private enum Unhashed { Auto, On, Off }

    private Unhashed _unhashed;
    private long _layoutRefreshMs;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    private ChildrenUp? _childrenUp;
    private Dictionary<string, int> _indexByName = new(StringComparer.Ordinal);

    /// <summary>How many subvolumes (children) this distribute spreads over.</summary>
    public int SubvolumeCount => Children.Count;

    /// <summary>Counters for tests and state: heals done, link pointers made, lookups that had to look everywhere.</summary>
    public long DirectoriesHealed => Volatile.Read(ref _dirsHealed);
    public long LayoutsHealed => Volatile.Read(ref _layoutsHealed);
    public long PointersCreated => Volatile.Read(ref _pointersCreated);
    public long LookupsEverywhere => Volatile.Read(ref _lookupsEverywhere);
    private long _dirsHealed, _layoutsHealed, _pointersCreated, _lookupsEverywhere;

    /// <summary>For `graft state`: what this translator did on its graph.</summary>
    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["directoriesHealed"] = DirectoriesHealed, ["layoutsHealed"] = LayoutsHealed, ["layoutsFixed"] = LayoutsFixed,
        ["pointersCreated"] = PointersCreated, ["lookupsEverywhere"] = LookupsEverywhere,
        ["filesMoved"] = FilesMoved, ["bytesMoved"] = BytesMoved,
        ["waitsForMoves"] = WaitsForMoves, ["moveWaitsTimedOut"] = MoveWaitsTimedOut,
    };

    public override ValueTask InitAsync(CancellationToken ct)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in Children)
            if (!names.Add(c.Name)) throw new ArgumentException($"{this}: subvolume '{c.Name}' is named twice");
        _indexByName = Children.Select((c, i) => (c.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        _childrenUp = new ChildrenUp(Children, Options.GetLong("subvolume-wait"), NotifyParents,
            () => LogPartlyUp(_log, Name, string.Join(", ", Children.Where((_, k) => !IsUp(k)).Select(c => c.Name))));
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Distribute");
        return base.InitAsync(ct);
    }

    protected override void ApplyOptions(OptionValues options)
    {
        _unhashed = options.GetString("lookup-unhashed").ToLowerInvariant() switch { "on" => Unhashed.On, "off" => Unhashed.Off, _ => Unhashed.Auto };
        _layoutRefreshMs = options.GetLong("layout-refresh");
        Volatile.Write(ref _migrationWaitMs, options.GetLong("migration-wait"));
        Volatile.Write(ref _migrateYieldMs, options.GetLong("migrate-yield"));
        Volatile.Write(ref _postParentMaxAgeMs, options.GetLong("postparent-max-age"));
        _decommissioned = ParseDecommissioned(options.GetString("decommissioned"));
    }

    public override ValueTask FiniAsync()
    {
        _childrenUp?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>CHILD_UP and CHILD_DOWN of the children: see <see cref="ChildrenUp"/>.</summary>
    public override void Notify(GraphEvent ev, Translator? from)
    {
        if (_childrenUp?.Notify(ev, from) is null or < 0) base.Notify(ev, from);
    }

    private bool IsUp(int i) => _childrenUp!.IsUp(i);

    /// <summary>Every subvolume is up: only then may a layout be judged incomplete and written again.</summary>
    private bool IsAllUp() => _childrenUp!.AllUp;

    /// <summary>The index of the subvolume named <paramref name="name"/> (a link pointer's target), or -1.</summary>
    internal int IndexOfName(string name) => _indexByName.TryGetValue(name, out var i) ? i : -1;

    /// <summary>
    /// The mount's trusted identity for internal work done on behalf of <paramref name="ctx"/>'s
    /// call (layouts, heals, link pointers): never for what the user asked for itself.
    /// </summary>
    private static FopContext Trusted(FopContext ctx) => new()
    {
        Uid = 0, Gid = 0, Pid = ctx.Pid, MountId = ctx.MountId, Graph = ctx.Graph, LockOwner = ctx.LockOwner,
    };

    /// <summary>Runs <paramref name="call"/> on each of <paramref name="subvols"/> at once; results by position.</summary>
    private static async Task<T[]> FanOutAsync<T>(IReadOnlyList<int> subvols, Func<int, ValueTask<T>> call)
    {
        var tasks = new Task<T>[subvols.Count];
        for (int k = 0; k < subvols.Count; k++) tasks[k] = call(subvols[k]).AsTask();
        return await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private int[] AllSubvols() => Enumerable.Range(0, Children.Count).ToArray();

    private int[] AllBut(int skip) => Enumerable.Range(0, Children.Count).Where(i => i != skip).ToArray();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: up without {Down} (still down after subvolume-wait); their files give ENOTCONN")]
    private static partial void LogPartlyUp(ILogger log, string name, string down);
}
