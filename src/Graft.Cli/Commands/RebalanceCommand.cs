using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft rebalance --volfile FILE --fix-layout`: a client of the volume that walks every directory
/// and rewrites its layout over all of distribute's subvolumes (after add-brick, so new bricks take
/// new names). Moving files (a full rebalance, `--remove`) is not built yet and says so.
/// </summary>
public static class RebalanceCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var volfile = new Option<FileInfo>("--volfile") { Description = "The client volfile of the volume (its top is, or is above, cluster/distribute).", Required = true };
        var fixLayout = new Option<bool>("--fix-layout") { Description = "Rewrite every directory's layout over all subvolumes; move no file." };
        var json = new Option<bool>("--json") { Description = "Print progress as one JSON object per second (and a last one at the end) instead of a progress bar." };
        var remove = new Option<string?>("--remove") { Description = "Drain SUBVOLUME (move its files to the others) so a volfile without it can follow (not available yet)." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the volume's bricks to come up.", DefaultValueFactory = _ => 30 };
        var cmd = new Command("rebalance",
            "Rebalance a distributed volume as a client of it: with --fix-layout, give every directory a layout over all " +
            "subvolumes (after a brick was added). Ends with 'rebalance: N moved, S skipped, F failed'; exits 1 if F > 0. " +
            "Can be interrupted and run again.")
        {
            volfile, fixLayout, json, remove, timeout,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (parse.GetValue(remove) is { } sub)
            {
                error.WriteLine($"graft rebalance: --remove {sub}: draining a subvolume (moving files) is not available yet");
                return 2;
            }
            if (!parse.GetValue(fixLayout))
            {
                error.WriteLine("graft rebalance: moving files (a full rebalance) is not available yet; run with --fix-layout");
                return 2;
            }
            var path = parse.GetRequiredValue(volfile).FullName;
            Volume volume;
            try
            {
                volume = await Volume.OpenVolfileAsync(path, new VolumeOptions
                {
                    Registry = registry(), ChildUpTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                }, ct: ct).ConfigureAwait(false);
            }
            catch (VolfileException e) { error.WriteLine(e.Message); return 1; }
            catch (GraftIOException e) { error.WriteLine($"graft rebalance: {path}: {e.Message}"); return 1; }
            await using (volume.ConfigureAwait(false))
            {
                if (!volume.Session.ActiveGraph.Translators.Any(t => t is DistributeTranslator))
                {
                    error.WriteLine($"graft rebalance: {path}: the volume has no cluster/distribute");
                    return 1;
                }
                var progress = new Progress();
                var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && !parse.GetValue(json);
                using var ticker = new Timer(_ => Report(output, progress, parse.GetValue(json), terminal, last: false), null,
                                             parse.GetValue(json) ? 1000 : 200, parse.GetValue(json) ? 1000 : 200);
                await FixLayoutsAsync(volume, progress, error, ct).ConfigureAwait(false);
                ticker.Dispose();
                Report(output, progress, parse.GetValue(json), terminal, last: true);
                output.WriteLine($"fix-layout: {progress.Directories} directories, {progress.LayoutsFixed} layouts written, {progress.Files} files seen");
                output.WriteLine($"rebalance: 0 moved, 0 skipped, {progress.Failed} failed");
                return progress.Failed > 0 ? 1 : 0;
            }
        });
        return cmd;
    }

    private sealed class Progress
    {
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public long Directories, LayoutsFixed, Files, Failed;
        public readonly object Sync = new();
    }

    /// <summary>
    /// Breadth first from the root: each directory is looked up by name on the way (which makes its
    /// copy on a new brick), listed, then fixed. A directory that fails is reported and counted; the
    /// walk goes on. Running again is harmless: a layout that is already the even split is left alone.
    /// </summary>
    private static async Task FixLayoutsAsync(Volume volume, Progress p, TextWriter error, CancellationToken ct)
    {
        var queue = new Queue<string>();
        queue.Enqueue("/");
        while (queue.Count > 0 && !ct.IsCancellationRequested)
        {
            var dir = queue.Dequeue();
            try
            {
                await foreach (var e in volume.EnumerateEntriesAsync(dir, ct).ConfigureAwait(false))
                {
                    if (e.Name is "." or "..") continue;
                    if (e.Type == PosixMode.S_IFDIR) queue.Enqueue(dir == "/" ? "/" + e.Name : dir + "/" + e.Name);
                    else Interlocked.Increment(ref p.Files);
                }
                var before = await volume.GetXattrAsync(dir, DistributeTranslator.LayoutKey, ct).ConfigureAwait(false);
                await volume.SetXattrAsync(dir, DistributeTranslator.FixLayoutKey, ReadOnlyMemory<byte>.Empty, 0, ct).ConfigureAwait(false);
                var after = await volume.GetXattrAsync(dir, DistributeTranslator.LayoutKey, ct).ConfigureAwait(false);
                if (!before.AsSpan().SequenceEqual(after)) Interlocked.Increment(ref p.LayoutsFixed);
                Interlocked.Increment(ref p.Directories);
            }
            catch (GraftIOException e)
            {
                Interlocked.Increment(ref p.Failed);
                lock (p.Sync) error.WriteLine($"graft rebalance: {dir}: {e.Errno.Name()}");
            }
        }
    }

    private static void Report(TextWriter output, Progress p, bool json, bool terminal, bool last)
    {
        double s = Math.Max(p.Clock.Elapsed.TotalSeconds, 1e-3);
        long dirs = Interlocked.Read(ref p.Directories);
        lock (p.Sync)
        {
            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    elapsed = Math.Round(s, 3), phase = "fix-layout", directories = dirs, layoutsFixed = Interlocked.Read(ref p.LayoutsFixed),
                    filesScanned = Interlocked.Read(ref p.Files), moved = 0, skipped = 0, bytesMoved = 0, failed = Interlocked.Read(ref p.Failed),
                    directoriesPerSecond = Math.Round(dirs / s, 1), done = last,
                }));
            }
            else if (terminal)
            {
                output.Write($"\rfix-layout: {dirs} directories ({dirs / s:0.0}/s), {Interlocked.Read(ref p.LayoutsFixed)} layouts written, " +
                             $"{Interlocked.Read(ref p.Files)} files seen, {Interlocked.Read(ref p.Failed)} failed, {p.Clock.Elapsed:mm\\:ss}   ");
                if (last) output.WriteLine();
            }
            output.Flush();
        }
    }
}
