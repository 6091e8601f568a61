using System.Diagnostics.Metrics;
using Graft.Core.Diagnostics;

namespace Graft.Mount;

/// <summary>The session's calls, as timed per fop (graft.mount.fop.duration's <c>fop</c> tag is the lower-case name).</summary>
public enum MountFop
{
    Lookup, Getattr, Setattr, Access, Readlink, Mknod, Mkdir, Symlink, Unlink, Rmdir, Rename, Link, Statfs,
    Setxattr, Getxattr, Listxattr, Removexattr, Create, Open, Read, Write, Flush, Fsync, Fallocate, Lseek,
    CopyFileRange, Opendir, Readdir, Readdirp, Lk, Release,
}

/// <summary>
/// The mount session's <see cref="System.Diagnostics.Metrics"/> instruments (Meter <see cref="MeterName"/>):
/// every counter of `graft state` as an observable counter read from the session's own counters (nothing is
/// added to any fop for them), gauges of open files, nodes and graphs, and per-fop latency
/// (<see cref="Fops"/>). Names, units and tags are listed in docs/metrics.md.
/// </summary>
public sealed class MountMetrics : IDisposable
{
    public const string MeterName = "Graft.Mount";

    private static readonly string?[] FopNames =
        [.. Enum.GetNames<MountFop>().Select(n => n == nameof(MountFop.CopyFileRange) ? "copy_file_range" : n.ToLowerInvariant())];

    private readonly Meter _meter = new(MeterName);
    private readonly MountSession _session;

    internal MountMetrics(MountSession s)
    {
        _session = s;
        Fops = new FopLatencies(_meter, "graft.mount.fop.duration", "Time the mount session took to answer a call, by fop.", FopNames);
        Counter("switches", "{switch}", "Graph switches (a new graph became active).", c => c.Switches);
        Counter("reconfigures", "{reconfigure}", "Volfile changes applied in place.", c => c.Reconfigures);
        Counter("fd.migrations", "{fd}", "Open files moved to a newer graph.", c => c.FdMigrations);
        Counter("fd.migration.failures", "{fd}", "Moves of an open file to a newer graph that failed (the call failed; the next one tries again).", c => c.FdMigrationFailures);
        Counter("graphs.destroyed", "{graph}", "Old graphs retired and freed.", c => c.GraphsDestroyed);
        Counter("retirements.forced", "{graph}", "Old graphs whose teardown was forced after retirement_timeout.", c => c.RetirementsForced);
        Counter("lookups", "{call}", "Lookups by name.", c => c.Lookups);
        Counter("nodes.created", "{node}", "Mount-level nodes created.", c => c.NodesCreated);
        Counter("nodes.forgotten", "{node}", "Mount-level nodes forgotten.", c => c.NodesForgotten);
        Counter("files.opened", "{file}", "Files and directories opened.", c => c.FilesOpened);
        Counter("files.released", "{file}", "Files and directories released.", c => c.FilesReleased);
        Counter("fds.released", "{fd}", "Per-graph fds released.", c => c.FdsReleased);
        Counter("inode.misses", "{call}", "Calls whose node had to be resolved again on a newer graph.", c => c.InodeMisses);
        Counter("fd.misses", "{call}", "Calls whose open file had to be moved to a newer graph.", c => c.FdMisses);
        Counter("handles.swept", "{handle}", "Idle handles moved off old graphs by the background sweep.", c => c.HandlesSwept);
        Counter("locks.rebound", "{lock}", "Locks re-bound to a new fd by migrations.", c => c.LocksRebound);
        Counter("lock.waits.moved", "{call}", "Blocking lock requests moved to the active graph.", c => c.LockWaitsMoved);
        Counter("locks.reclaimed", "{lock}", "Locks taken back from a restarted brick.", c => c.LocksReclaimed);
        Counter("locks.lost", "{lock}", "Locks neither re-bound nor reclaimed (their file failed closed).", c => c.LocksLost);
        Counter("lock.waits.resent", "{call}", "Blocking lock requests asked again after their brick came back.", c => c.LockWaitsResent);
        Counter("writeback.errors.reported", "{call}", "fsync and close calls that reported a write-back error.", c => c.WriteBackErrorsReported);
        _meter.CreateObservableUpDownCounter("graft.mount.open.files", () => s.OpenFileCount, "{file}", "Files and directories open on the mount.");
        _meter.CreateObservableUpDownCounter("graft.mount.nodes", () => s.NodeCount, "{node}", "Nodes the kernel (or the library) holds.");
        _meter.CreateObservableUpDownCounter("graft.mount.graphs", () => s.Graphs.Count, "{graph}", "Graphs held: the active one, old ones not yet retired, one starting.");
        _meter.CreateObservableGauge("graft.mount.active.generation", () => s.ActiveGraph.Generation, "{generation}", "Generation of the active graph.");
        _meter.CreateObservableUpDownCounter("graft.mount.fops.in.flight", () => Sum(s, g => g.FopsInFlight), "{call}", "Calls in flight, over all graphs held.");
        _meter.CreateObservableUpDownCounter("graft.mount.writebehind.bytes", () => Sum(s, MountSession.BytesHeld), "By", "Bytes acknowledged by write-behind and not yet written, over all graphs held.");

        void Counter(string name, string unit, string description, Func<CounterInfo, long> read) =>
            _meter.CreateObservableCounter("graft.mount." + name, () => read(s.GetCounters()), unit, description);
    }

    /// <summary>Per-fop calls and latency.</summary>
    public FopLatencies Fops { get; }

    /// <summary>Counters, sizes and per-fop figures now; reads counters only (no walk over files or nodes).</summary>
    public MountMetricsSnapshot Snapshot()
    {
        var s = _session;
        var graphs = s.Graphs;
        long inFlight = 0;
        foreach (var g in graphs) inFlight += g.FopsInFlight;
        return new MountMetricsSnapshot(DateTimeOffset.UtcNow, Environment.ProcessId, s.ActiveGraph.Generation, graphs.Count,
                                        s.OpenFileCount, s.NodeCount, inFlight, s.GetCounters(), Fops.Snapshot());
    }

    private static long Sum(MountSession s, Func<Core.Graph, long> of)
    {
        long n = 0;
        foreach (var g in s.Graphs) n += of(g);
        return n;
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>
/// What `graft top` reads from a mount (control command "metrics") and a state dump carries beside the
/// state: the counters, the sizes that change, and per-fop calls with latency buckets (cumulative).
/// </summary>
public sealed record MountMetricsSnapshot(
    DateTimeOffset Time, int Pid, long ActiveGeneration, int Graphs, int OpenFileCount, int Nodes, long FopsInFlight,
    CounterInfo Counters, IReadOnlyList<FopLatencySnapshot> Fops)
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
    };

    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);

    public static MountMetricsSnapshot? FromJson(string json) => System.Text.Json.JsonSerializer.Deserialize<MountMetricsSnapshot>(json, Json);
}
