using System.Text.Json;
using System.Text.Json.Serialization;
using Graft.Core;

namespace Graft.Mount;

// Counters that prove the invariants, and the snapshot `graft state` prints. The JSON keys are a
// public contract (scripts and tests read them): add keys, never rename.
public sealed partial class MountSession
{
    private readonly SessionCounters _counters = new();

    /// <summary>Acknowledged bytes the graph's translators (write-behind) have not yet written below them.</summary>
    internal static long BytesHeld(Graph g)
    {
        long n = 0;
        foreach (var t in g.Translators) n += t.BytesHeld;
        return n;
    }

    /// <summary>The counters of the graph's translators that keep some, by translator name.</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, long>> TranslatorCounters(Graph g)
    {
        var all = new Dictionary<string, IReadOnlyDictionary<string, long>>(StringComparer.Ordinal);
        foreach (var t in g.Translators)
            if (t.Counters is { } c) all[t.Name] = c;
        return all;
    }

    /// <summary>The session's counters, read one by one (no walk over files or nodes).</summary>
    public CounterInfo GetCounters() => new(
        Interlocked.Read(ref _counters.Switches), Interlocked.Read(ref _counters.Reconfigures),
        Interlocked.Read(ref _counters.MigrationsDone), Interlocked.Read(ref _counters.MigrationsFailed),
        Interlocked.Read(ref _counters.GraphsDestroyed), Interlocked.Read(ref _counters.RetirementsForced),
        Interlocked.Read(ref _counters.Lookups), Interlocked.Read(ref _counters.NodesCreated),
        Interlocked.Read(ref _counters.NodesForgotten), Interlocked.Read(ref _counters.FilesOpened),
        Interlocked.Read(ref _counters.FilesReleased), Interlocked.Read(ref _counters.FdsReleased),
        Interlocked.Read(ref _counters.InodeMisses), Interlocked.Read(ref _counters.FdMisses),
        Interlocked.Read(ref _counters.HandlesSwept),
        Interlocked.Read(ref _counters.LocksRebound), Interlocked.Read(ref _counters.LockWaitsMoved),
        Interlocked.Read(ref _counters.LocksReclaimed), Interlocked.Read(ref _counters.LocksLost),
        Interlocked.Read(ref _counters.LockWaitsResent),
        Interlocked.Read(ref _counters.WriteBackErrorsReported));

    /// <summary>A consistent-enough snapshot of the session for state dumps (counters are read one by one).</summary>
    public MountState GetState()
    {
        var active = ActiveGraph;
        var files = _files.Snapshot();
        var perGen = new SortedDictionary<long, int>();
        foreach (var f in files)
        {
            var gen = f.Fd.Graph?.Generation ?? 0;
            perGen[gen] = perGen.GetValueOrDefault(gen) + 1;
        }
        var graphs = new List<GraphStateInfo>();
        foreach (var g in Graphs)
        {
            graphs.Add(new GraphStateInfo(g.Generation, g.State.ToString().ToLowerInvariant(), g.FopsInFlight, g.Inodes.Count,
                                          g.Inodes.FdCount, g.Inodes.ActiveCount, g.Inodes.LruCount, g.IsChildUp,
                                          BytesHeld(g), TranslatorCounters(g)));
        }
        return new MountState(
            Environment.ProcessId, active.Generation, graphs, perGen, files.Count, NodeCount,
            GetCounters(),
            LastVolfileError);
    }
}

/// <summary>The session's counters, shared by its rooms (changed with Interlocked, read one by one).</summary>
internal sealed class SessionCounters
{
    public long Lookups, NodesCreated, NodesForgotten, FilesOpened, FilesReleased, FdsReleased;
    public long InodeMisses, FdMisses, MigrationsDone, MigrationsFailed;
    public long LocksRebound, LockWaitsMoved, LocksReclaimed, LocksLost, LockWaitsResent;
    public long Switches, Reconfigures, GraphsDestroyed, RetirementsForced, HandlesSwept;
    public long WriteBackErrorsReported;
}

/// <summary>What `graft state` shows for a mount (and the library's Volume.GetState()).</summary>
public sealed record MountState(
    int Pid,
    long ActiveGeneration,
    IReadOnlyList<GraphStateInfo> Graphs,
    /// <summary>Open files (and directories) per generation of the graph their fd is on.</summary>
    IReadOnlyDictionary<long, int> OpenFiles,
    int OpenFileCount,
    int Nodes,
    CounterInfo Counters,
    VolfileErrorInfo? LastVolfileError)
{
    /// <summary>Where the mount's volfile comes from (a file, or a management daemon and the revision last applied); set by the mount daemon.</summary>
    public Switching.VolfileSourceInfo? VolfileSource { get; init; }

    /// <summary>Where the mount serves its metrics in Prometheus text format (-o metrics=ADDR:PORT); null when it does not. Set by the mount daemon.</summary>
    public string? MetricsUrl { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static MountState? FromJson(string json) => JsonSerializer.Deserialize<MountState>(json, Json);
}

/// <summary>
/// One graph the session holds. <see cref="State"/> is starting, active, draining or destroyed;
/// <see cref="WriteBehindBytes"/> is what write-behind acknowledged on it and has not yet written;
/// <see cref="Translators"/> the counters of its translators that keep some (e.g. distribute's heals and moves).
/// </summary>
public sealed record GraphStateInfo(
    long Generation, string State, long FopsInFlight, int Inodes, int Fds, int ActiveInodes, int LruInodes, bool ChildUp,
    long WriteBehindBytes, IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>>? Translators = null);

public sealed record CounterInfo(
    long Switches, long Reconfigures, long FdMigrations, long FdMigrationFailures, long GraphsDestroyed, long RetirementsForced,
    long Lookups, long NodesCreated, long NodesForgotten, long FilesOpened, long FilesReleased, long FdsReleased,
    long InodeMisses, long FdMisses, long HandlesSwept,
    /// <summary>Locks and waiting requests moved from an old brick fd to a new one by migrations.</summary>
    long LocksRebound = 0,
    /// <summary>Blocking lock requests moved, still waiting, from an old graph to the active one.</summary>
    long LockWaitsMoved = 0,
    /// <summary>Locks taken back from a restarted brick during its grace.</summary>
    long LocksReclaimed = 0,
    /// <summary>Locks that could be neither re-bound nor taken back: each failed its file closed (EIO).</summary>
    long LocksLost = 0,
    /// <summary>Blocking lock requests asked again after their brick went away and came back.</summary>
    long LockWaitsResent = 0,
    /// <summary>fsync and close calls that reported a write-back error (acknowledged bytes that did not land).</summary>
    long WriteBackErrorsReported = 0);
