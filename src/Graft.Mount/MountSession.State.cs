using System.Text.Json;
using System.Text.Json.Serialization;
using Graft.Core;

namespace Graft.Mount;

// Counters that prove the invariants, and the snapshot `graft state` prints.
public sealed partial class MountSession
{
    private Counters _counters;

    private struct Counters
    {
        public long Lookups, NodesCreated, NodesForgotten, FilesOpened, FilesReleased, FdsReleased;
        public long InodeMisses, FdMisses, MigrationsFailed;
#pragma warning disable CS0649 // counted by fd migration and graph switching, which arrive with live switching
        public long MigrationsDone;
        public long Switches, Reconfigures, GraphsDestroyed, RetirementsForced;
#pragma warning restore CS0649
    }

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
        foreach (var g in GraphsAlive())
        {
            graphs.Add(new GraphStateInfo(g.Generation, g.State.ToString(), g.FopsInFlight, g.Inodes.Count,
                                          g.Inodes.ActiveCount, g.Inodes.LruCount, g.Inodes.FdCount, g.IsChildUp));
        }
        return new MountState(
            active.Generation, graphs, perGen, NodeCount, files.Count,
            new CounterInfo(
                Interlocked.Read(ref _counters.Lookups), Interlocked.Read(ref _counters.NodesCreated),
                Interlocked.Read(ref _counters.NodesForgotten), Interlocked.Read(ref _counters.FilesOpened),
                Interlocked.Read(ref _counters.FilesReleased), Interlocked.Read(ref _counters.FdsReleased),
                Interlocked.Read(ref _counters.InodeMisses), Interlocked.Read(ref _counters.FdMisses),
                Interlocked.Read(ref _counters.MigrationsDone), Interlocked.Read(ref _counters.MigrationsFailed))
            {
                Switches = Interlocked.Read(ref _counters.Switches),
                Reconfigures = Interlocked.Read(ref _counters.Reconfigures),
                GraphsDestroyed = Interlocked.Read(ref _counters.GraphsDestroyed),
                RetirementsForced = Interlocked.Read(ref _counters.RetirementsForced),
            })
        {
            Pid = Environment.ProcessId,
            LastVolfileError = LastVolfileError,
        };
    }

    /// <summary>
    /// The last volfile that could not become a graph (a bad edit the daemon refused), shown in
    /// state dumps until a good one is applied; null when none. Set by whoever loads volfiles.
    /// </summary>
    public VolfileErrorInfo? LastVolfileError { get; set; }

    /// <summary>The graphs this session still holds. One until graph switching keeps retiring graphs here too.</summary>
    private IEnumerable<Graph> GraphsAlive() => [ActiveGraph];
}

/// <summary>What `graft state` shows for a mount.</summary>
public sealed record MountState(
    long ActiveGeneration,
    IReadOnlyList<GraphStateInfo> Graphs,
    IReadOnlyDictionary<long, int> OpenFilesPerGeneration,
    int Nodes,
    int OpenFiles,
    CounterInfo Counters)
{
    /// <summary>The process serving the mount (the mount daemon, or the library's host process).</summary>
    public int Pid { get; init; }

    public VolfileErrorInfo? LastVolfileError { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static MountState? FromJson(string json) => JsonSerializer.Deserialize<MountState>(json, Json);
}

public sealed record GraphStateInfo(
    long Generation, string State, long FopsInFlight, int Inodes, int ActiveInodes, int LruInodes, int Fds, bool ChildUp);

public sealed record CounterInfo(
    long Lookups, long NodesCreated, long NodesForgotten, long FilesOpened, long FilesReleased, long FdsReleased,
    long InodeMisses, long FdMisses, long MigrationsDone, long MigrationsFailed)
{
    /// <summary>Active graph replaced by a new one.</summary>
    public long Switches { get; init; }
    /// <summary>Option changes applied in place to the active graph.</summary>
    public long Reconfigures { get; init; }
    /// <summary>The names front ends and tools use for <see cref="MigrationsDone"/> and <see cref="MigrationsFailed"/>.</summary>
    public long FdMigrations => MigrationsDone;
    public long FdMigrationFailures => MigrationsFailed;
    public long GraphsDestroyed { get; init; }
    /// <summary>Retirements that hit their bound and were torn down by force.</summary>
    public long RetirementsForced { get; init; }
}

/// <summary>Where a refused volfile went wrong (as <see cref="VolfileException"/> says it).</summary>
public sealed record VolfileErrorInfo(string File, int Line, string Message)
{
    public static VolfileErrorInfo From(VolfileException e) => new(e.File, e.Line, e.Message);
}
