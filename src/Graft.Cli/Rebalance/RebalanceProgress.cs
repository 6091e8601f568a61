using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Graft.Cli.Rebalance;

/// <summary>
/// What a rebalance has done so far, updated by the run and read by the reporter once a second (JSON)
/// or five times a second (a terminal). Counts are read without a lock: a report may be a moment old.
/// </summary>
internal sealed class RebalanceProgress
{
    public readonly Stopwatch Clock = Stopwatch.StartNew();
    public volatile string Phase = "fix-layout";
    public long Directories, LayoutsFixed, FilesSeen, FilesTotal, BytesTotal;
    public long FilesScanned, BytesScanned, Moved, BytesMoved, Skipped, Failed;
    /// <summary>When the move phase began (clock ms), for its rate and ETA.</summary>
    public long MoveStartedMs = -1;
    public readonly List<(string Path, string Reason)> SkippedFiles = [], FailedFiles = [];
    public bool Interrupted;

    /// <summary>How many skipped or failed files are kept to be named in the last report.</summary>
    public const int NamedMax = 100;

    public void Skip(string path, string reason)
    {
        Interlocked.Increment(ref Skipped);
        lock (SkippedFiles) if (SkippedFiles.Count < NamedMax) SkippedFiles.Add((path, reason));
    }

    public void Fail(string path, string reason)
    {
        Interlocked.Increment(ref Failed);
        lock (FailedFiles) if (FailedFiles.Count < NamedMax) FailedFiles.Add((path, reason));
    }

    private double MoveSeconds => MoveStartedMs < 0 ? 0 : Math.Max(1e-3, (Clock.ElapsedMilliseconds - MoveStartedMs) / 1000.0);

    /// <summary>
    /// Seconds left, from the share of the scan's files and bytes the move phase has been through (by
    /// bytes when there are enough of them to say more than the count); null before the move phase.
    /// </summary>
    public double? EtaSeconds()
    {
        if (MoveStartedMs < 0) return null;
        long files = Interlocked.Read(ref FilesScanned), total = Interlocked.Read(ref FilesTotal);
        long bytes = Interlocked.Read(ref BytesScanned), bytesTotal = Interlocked.Read(ref BytesTotal);
        double done = bytesTotal >= 1 << 20 ? (double)bytes / bytesTotal : total > 0 ? (double)files / total : 1;
        done = Math.Clamp(done, 0, 1);
        if (done <= 0) return null;
        return Math.Round(MoveSeconds * (1 - done) / done, 1);
    }

    public JsonObject Snapshot(bool done)
    {
        double s = Math.Max(Clock.Elapsed.TotalSeconds, 1e-3);
        long dirs = Interlocked.Read(ref Directories);
        var o = new JsonObject
        {
            ["elapsed"] = Math.Round(s, 3),
            ["phase"] = Phase,
            ["directories"] = dirs,
            ["layoutsFixed"] = Interlocked.Read(ref LayoutsFixed),
            ["filesScanned"] = Interlocked.Read(ref FilesScanned),
            ["filesTotal"] = Interlocked.Read(ref FilesTotal),
            ["bytesTotal"] = Interlocked.Read(ref BytesTotal),
            ["moved"] = Interlocked.Read(ref Moved),
            ["skipped"] = Interlocked.Read(ref Skipped),
            ["bytesMoved"] = Interlocked.Read(ref BytesMoved),
            ["failed"] = Interlocked.Read(ref Failed),
            ["directoriesPerSecond"] = Math.Round(dirs / s, 1),
            ["filesPerSecond"] = MoveStartedMs < 0 ? 0 : Math.Round(Interlocked.Read(ref FilesScanned) / MoveSeconds, 1),
            ["bytesPerSecond"] = MoveStartedMs < 0 ? 0 : Math.Round(Interlocked.Read(ref BytesMoved) / MoveSeconds),
            ["etaSeconds"] = EtaSeconds(),
            ["done"] = done,
        };
        if (done)
        {
            o["interrupted"] = Interrupted;
            lock (SkippedFiles) o["skippedFiles"] = Named(SkippedFiles);
            lock (FailedFiles) o["failedFiles"] = Named(FailedFiles);
        }
        return o;
    }

    private static JsonArray Named(List<(string Path, string Reason)> list) =>
        new([.. list.Select(f => (JsonNode)new JsonObject { ["path"] = f.Path, ["reason"] = f.Reason })]);

    /// <summary>One line for a terminal: a bar of the move's share done, counts, rate and ETA.</summary>
    public string Line()
    {
        long dirs = Interlocked.Read(ref Directories);
        if (MoveStartedMs < 0)
            return $"{Phase}: {dirs} directories ({dirs / Math.Max(Clock.Elapsed.TotalSeconds, 1e-3):0.0}/s), {Interlocked.Read(ref LayoutsFixed)} layouts written, " +
                   $"{Interlocked.Read(ref FilesSeen)} files seen, {Interlocked.Read(ref Failed)} failed, {Clock.Elapsed:mm\\:ss}";
        long files = Interlocked.Read(ref FilesScanned), total = Math.Max(files, Interlocked.Read(ref FilesTotal));
        double share = total == 0 ? 1 : (double)files / total;
        const int width = 24;
        int full = (int)Math.Round(share * width);
        var eta = EtaSeconds() is { } e ? TimeSpan.FromSeconds(e).ToString(@"hh\:mm\:ss") : "--:--:--";
        return $"{Phase} [{new string('#', full)}{new string('.', width - full)}] {files}/{total} files, " +
               $"{Interlocked.Read(ref Moved)} moved ({Size(Interlocked.Read(ref BytesMoved))}, {Size((long)(Interlocked.Read(ref BytesMoved) / MoveSeconds))}/s), " +
               $"{Interlocked.Read(ref Skipped)} skipped, {Interlocked.Read(ref Failed)} failed, ETA {eta}";
    }

    public static string Size(long bytes) => bytes switch
    {
        < 1L << 10 => $"{bytes} B",
        < 1L << 20 => $"{bytes / 1024.0:0.0} KiB",
        < 1L << 30 => $"{bytes / 1048576.0:0.0} MiB",
        _ => $"{bytes / 1073741824.0:0.00} GiB",
    };

    public static string Json(JsonObject o) => o.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
