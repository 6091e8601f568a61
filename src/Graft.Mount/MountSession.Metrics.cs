using System.Runtime.CompilerServices;

namespace Graft.Mount;

// Per-fop latency: each public call takes Stopwatch.GetTimestamp() before it enters a graph and records
// itself in the finally that leaves it. Recording is lock- and allocation-free (FopLatencies), so the hot
// path (read/write/getattr on a resolved handle) stays at 0 B per call.
public sealed partial class MountSession
{
    /// <summary>The session's instruments (Meter "Graft.Mount") and per-fop latency buckets.</summary>
    public MountMetrics Metrics { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Timed(MountFop fop, long started) => Metrics.Fops.Record((int)fop, started);
}
