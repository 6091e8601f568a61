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
#pragma warning disable CS0649 // counted by fd migration, which arrives with live graph switching
        public long MigrationsDone;
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
                Interlocked.Read(ref _counters.MigrationsDone), Interlocked.Read(ref _counters.MigrationsFailed)));
    }

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
    long InodeMisses, long FdMisses, long MigrationsDone, long MigrationsFailed);
