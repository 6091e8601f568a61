using System.Diagnostics.Metrics;
using Graft.Core.Diagnostics;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// The brick's System.Diagnostics.Metrics instruments (Meter "Graft.Brick", docs/metrics.md): per-fop calls and
// latency as served (from a start of its service to its reply being queued), connections and sessions, bytes of
// request and reply frames, refusals by reason. Counters are plain Interlocked fields read by observable
// instruments, so serving a request adds no allocation.
public sealed partial class ProtocolServer
{
    public const string MeterName = "Graft.Brick";

    private static readonly string?[] OpNames = BuildOpNames();

    private Meter? _meter;
    private long _bytesReceived, _bytesSent, _servedInline, _bodiesKept, _writesLaned, _readsSpliced, _bytesSpliced, _splicesCopied, _writesSpliced, _bytesWriteSpliced;

    /// <summary>Per-fop calls and latency served; null until the server is initialised.</summary>
    public FopLatencies? Fops { get; private set; }
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    /// <summary>Requests served on their connection's receive loop, with no hand-off (inline-fops).</summary>
    public long ServedInline => Interlocked.Read(ref _servedInline);
    /// <summary>Request bodies served from the receive buffer they arrived in, not copied out of it (big writes).</summary>
    public long BodiesKept => Interlocked.Read(ref _bodiesKept);
    /// <summary>Writes that queued behind another write of their fd in service (the write lane) instead of going to a thread of their own.</summary>
    public long WritesLaned => Interlocked.Read(ref _writesLaned);

    /// <summary>Reads whose data went from the page cache to the socket through a pipe (read-splice), and their bytes.</summary>
    public long ReadsSpliced => Interlocked.Read(ref _readsSpliced);
    public long BytesSpliced => Interlocked.Read(ref _bytesSpliced);
    /// <summary>Writes whose data went from the socket through a pipe into the file (write-splice), and their bytes.</summary>
    public long WritesSpliced => Interlocked.Read(ref _writesSpliced);
    public long BytesWriteSpliced => Interlocked.Read(ref _bytesWriteSpliced);
    /// <summary>Writes the receive thread began to splice whose pipe filled first: they went the usual way (copied).</summary>
    public long WriteSplicesMoved => WriteSplice.Moved;
    /// <summary>Spliced reads whose data (or part of it) was copied out of the pipe after all: the socket was full or frames were queued before them.</summary>
    public long SplicesCopied => Interlocked.Read(ref _splicesCopied);

    private static string?[] BuildOpNames()
    {
        var ops = Enum.GetValues<FopOp>();
        var names = new string?[(int)ops.Max() + 1];
        foreach (var op in ops) if (FopOps.IsKnown(op)) names[(int)op] = op.ToString().ToLowerInvariant();
        return names;
    }

    private void InitMetrics()
    {
        _meter = new Meter(MeterName);
        var m = _meter;
        Fops = new FopLatencies(m, "graft.brick.fop.duration", "Time the brick took to serve a request, by fop.", OpNames);
        m.CreateObservableUpDownCounter("graft.brick.connections", () => ConnectionCount, "{connection}", "Client connections open.");
        m.CreateObservableUpDownCounter("graft.brick.sessions", () => SessionCount, "{session}", "Client sessions held (connected, or disconnected within grace-timeout).");
        m.CreateObservableUpDownCounter("graft.brick.open.fds", () => TotalFds, "{fd}", "Files and directories clients hold open.");
        m.CreateObservableUpDownCounter("graft.brick.io.workers.busy", () => IoLoad.Busy, "{thread}", "I/O workers (io-threads) serving a request; all busy means slow fops hold them.");
        m.CreateObservableUpDownCounter("graft.brick.io.queued", () => IoLoad.Queued, "{request}", "Requests waiting for an I/O worker.");
        m.CreateObservableCounter("graft.brick.received", () => BytesReceived, "By", "Bytes of request frames received (headers included).");
        m.CreateObservableCounter("graft.brick.sent", () => BytesSent, "By", "Bytes of reply frames sent (headers included).");
        m.CreateObservableCounter("graft.brick.served.inline", () => ServedInline, "{request}", "Requests served on their connection's receive loop, with no thread hand-off (inline-fops).");
        m.CreateObservableCounter("graft.brick.bodies.kept", () => BodiesKept, "{request}", "Request bodies (big writes) served from the receive buffer they arrived in, not copied out of it.");
        m.CreateObservableCounter("graft.brick.writes.laned", () => WritesLaned, "{request}", "Writes queued behind another write of their file in service, served after it by the same thread (ext4 runs them one at a time anyway).");
        m.CreateObservableCounter("graft.brick.reads.spliced", () => ReadsSpliced, "{request}", "Reads whose data was spliced from the page cache to the socket (read-splice), not copied.");
        m.CreateObservableCounter("graft.brick.writes.spliced", () => WritesSpliced, "{request}", "Writes whose data was spliced from the socket through a pipe into the file (write-splice), not copied.");
        m.CreateObservableCounter("graft.brick.writes.splice.moved", () => WriteSplicesMoved, "{request}", "Writes whose pipe filled before all their data arrived (sent in many small pieces): copied after all.");
        m.CreateObservableCounter("graft.brick.reads.splice.copied", () => SplicesCopied, "{request}", "Spliced reads whose data was copied out of the pipe after all, because the socket was full or other replies were queued before them.");
        m.CreateObservableCounter("graft.brick.connections.refused", RefusalMeasurements, "{connection}", "Connections turned away, by reason.");
    }

    private IEnumerable<Measurement<long>> RefusalMeasurements()
    {
        foreach (var why in Enum.GetValues<Refusal>())
            yield return new Measurement<long>(Refused(why), new KeyValuePair<string, object?>("reason", why.ToString()));
    }

    internal void CountReceived(long bytes) => Interlocked.Add(ref _bytesReceived, bytes);
    internal void CountInline() => Interlocked.Increment(ref _servedInline);
    internal void CountBodyKept() => Interlocked.Increment(ref _bodiesKept);
    internal void CountWriteLaned() => Interlocked.Increment(ref _writesLaned);
    internal void CountWriteSpliced(int bytes) { Interlocked.Increment(ref _writesSpliced); Interlocked.Add(ref _bytesWriteSpliced, bytes); }
    internal void CountSpliceCopied() => Interlocked.Increment(ref _splicesCopied);
    internal void CountSpliced(int bytes) { Interlocked.Increment(ref _readsSpliced); Interlocked.Add(ref _bytesSpliced, bytes); }

    /// <summary>One request served: its reply (of <paramref name="replyBytes"/> body bytes) is queued.</summary>
    internal void Served(FopOp op, long started, int replyBytes)
    {
        Interlocked.Add(ref _bytesSent, FrameHeader.Size + replyBytes);
        Fops?.Record((int)op, started);
    }

    private void DisposeMetrics() => _meter?.Dispose();

    /// <summary>The figures of a brick's state dump (SIGUSR1 to `graft brick`); counters only, no walk over files.</summary>
    public BrickStats GetStats()
    {
        var refused = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var why in Enum.GetValues<Refusal>()) if (Refused(why) is var n and > 0) refused[why.ToString()] = n;
        return new BrickStats(DateTimeOffset.UtcNow, Environment.ProcessId, BrickName, LocalEndPoint?.ToString(), ConnectionCount, SessionCount,
                              TotalFds, BytesReceived, BytesSent, refused, FdsRefused, LockWaitsRefused, Fops?.Snapshot() ?? []);
    }
}

/// <summary>A brick server's figures at one moment (cumulative counts; see docs/metrics.md).</summary>
public sealed record BrickStats(
    DateTimeOffset Time, int Pid, string Brick, string? Listen, int Connections, int Sessions, int OpenFds,
    long BytesReceived, long BytesSent, IReadOnlyDictionary<string, long> ConnectionsRefused, long FdsRefused, long LockWaitsRefused,
    IReadOnlyList<FopLatencySnapshot> Fops)
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase };

    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);
}
