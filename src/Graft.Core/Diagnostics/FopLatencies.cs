using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Numerics;

namespace Graft.Core.Diagnostics;

/// <summary>
/// Per-fop call counts and latency histograms of one process part (the mount session, a brick's
/// protocol/server). Each call is recorded twice, both without a lock or an allocation: into buckets
/// kept here, which `graft top` and state dumps read whether or not anything listens, and into a
/// <see cref="Histogram{T}"/> (tag <c>fop</c>) for exporters such as Prometheus, which costs one branch
/// while nothing listens.
/// </summary>
/// <remarks>
/// Buckets are four per power of two of microseconds (a percentile read from them is at most 19% off),
/// from 1 µs up to 2^30 µs (18 min; slower calls count in the last bucket).
/// </remarks>
public sealed class FopLatencies
{
    /// <summary>Buckets per fop.</summary>
    public const int BucketCount = 4 * 30;

    /// <summary>Bounds (seconds) of the exported histogram: 50 µs (a cached getattr) to 10 s (a call waiting for a reconnect).</summary>
    public static readonly IReadOnlyList<double> ExportBoundaries =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly string[] _names;
    private readonly long[] _buckets;   // [fop * BucketCount + bucket]
    private readonly long[] _totals;    // [fop * 2]: calls, [fop * 2 + 1]: Stopwatch ticks spent
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly Histogram<double> _histogram;

    /// <param name="meter">Where the exported histogram lives.</param>
    /// <param name="name">The histogram's name, e.g. graft.mount.fop.duration.</param>
    /// <param name="names">The fops' names, indexed by the number each call is recorded under (null: never recorded).</param>
    public FopLatencies(Meter meter, string name, string description, IReadOnlyList<string?> names)
    {
        _names = new string[names.Count];
        _tags = new KeyValuePair<string, object?>[names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            _names[i] = names[i] ?? "";
            _tags[i] = new("fop", _names[i]);
        }
        _buckets = new long[names.Count * BucketCount];
        _totals = new long[names.Count * 2];
        _histogram = meter.CreateHistogram(name, "s", description,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ExportBoundaries });
    }

    /// <summary>Records one call of <paramref name="fop"/> that started at <paramref name="started"/> (Stopwatch.GetTimestamp()).</summary>
    public void Record(int fop, long started)
    {
        if ((uint)fop >= (uint)_names.Length) return;
        long ticks = Stopwatch.GetTimestamp() - started;
        if (ticks < 0) ticks = 0;
        Interlocked.Increment(ref _totals[fop * 2]);
        Interlocked.Add(ref _totals[fop * 2 + 1], ticks);
        Interlocked.Increment(ref _buckets[fop * BucketCount + Bucket(ticks * 1_000_000 / Stopwatch.Frequency)]);
        if (_histogram.Enabled) _histogram.Record((double)ticks / Stopwatch.Frequency, _tags[fop]);
    }

    /// <summary>The bucket of a call that took <paramref name="us"/> microseconds.</summary>
    internal static int Bucket(long us)
    {
        if (us < 4) return (int)Math.Max(us, 0);
        int e = BitOperations.Log2((ulong)us);           // ≥ 2
        int sub = (int)(us >> (e - 2)) & 3;
        return Math.Min(4 * (e - 1) + sub, BucketCount - 1);
    }

    /// <summary>The smallest latency (µs) that falls in bucket <paramref name="b"/>.</summary>
    public static long BucketStart(int b) => b < 4 ? b : (4L + (b & 3)) << (b / 4 - 1);

    /// <summary>Cumulative counts of every fop called at least once (sparse buckets), for `graft top` and dumps.</summary>
    public IReadOnlyList<FopLatencySnapshot> Snapshot()
    {
        var list = new List<FopLatencySnapshot>();
        for (int f = 0; f < _names.Length; f++)
        {
            long calls = Interlocked.Read(ref _totals[f * 2]);
            if (calls == 0) continue;
            var buckets = new SortedDictionary<int, long>();
            for (int b = 0; b < BucketCount; b++)
                if (Interlocked.Read(ref _buckets[f * BucketCount + b]) is var n and > 0) buckets[b] = n;
            list.Add(new FopLatencySnapshot(_names[f], calls,
                Interlocked.Read(ref _totals[f * 2 + 1]) * 1_000_000 / Stopwatch.Frequency, buckets));
        }
        return list;
    }
}

/// <summary>
/// One fop's cumulative figures: <see cref="Calls"/>, the microseconds they took together, and calls per
/// latency bucket (key: bucket number, see <see cref="FopLatencies.BucketStart"/>). Two snapshots taken
/// a while apart give rates and the percentiles of that while.
/// </summary>
public sealed record FopLatencySnapshot(string Fop, long Calls, long TotalMicroseconds, IReadOnlyDictionary<int, long> Buckets)
{
    /// <summary>The latency (µs) below which <paramref name="q"/> of the calls in <paramref name="buckets"/> fell: the bucket's upper bound.</summary>
    public static double Percentile(IReadOnlyDictionary<int, long> buckets, double q)
    {
        long total = 0;
        foreach (var n in buckets.Values) total += n;
        if (total == 0) return 0;
        long rank = (long)Math.Ceiling(q * total), seen = 0;
        foreach (var (b, n) in buckets.OrderBy(kv => kv.Key))
        {
            seen += n;
            if (seen >= rank) return FopLatencies.BucketStart(b + 1);
        }
        return FopLatencies.BucketStart(FopLatencies.BucketCount);
    }

    /// <summary>What happened between <paramref name="earlier"/> and this snapshot (null: since the start).</summary>
    public FopLatencySnapshot Since(FopLatencySnapshot? earlier)
    {
        if (earlier is null) return this;
        var b = new SortedDictionary<int, long>();
        foreach (var (k, n) in Buckets)
            if (n - earlier.Buckets.GetValueOrDefault(k) is var d and > 0) b[k] = d;
        return new FopLatencySnapshot(Fop, Calls - earlier.Calls, TotalMicroseconds - earlier.TotalMicroseconds, b);
    }
}
