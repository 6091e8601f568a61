using System.CommandLine;
using System.Runtime.InteropServices;
using Graft.Cli.Rebalance;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft rebalance --volfile FILE [--fix-layout] [--remove SUBVOLUME] [--json]`: a client of the volume
/// (as GlusterFS's rebalance process is) that gives every directory a layout over all of distribute's
/// subvolumes and, unless --fix-layout, moves each file whose name now hashes elsewhere (docs/distribute.md).
/// </summary>
public static class RebalanceCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var volfile = new Option<FileInfo>("--volfile") { Description = "The client volfile of the volume (its top is, or is above, cluster/distribute).", Required = true };
        var fixLayout = new Option<bool>("--fix-layout") { Description = "Only rewrite every directory's layout over all subvolumes; move no file." };
        var json = new Option<bool>("--json") { Description = "Print progress as one JSON object per second (and a last one at the end) instead of a progress bar." };
        var remove = new Option<string[]>("--remove")
        {
            Description = "Drain SUBVOLUME (repeatable): move every file off it, so a volfile without it can follow. The volfile must list it in " +
                          "distribute's 'option decommissioned' first (mounts apply that in place, and stop placing new names on it).",
            HelpName = "SUBVOLUME",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var busyWait = new Option<int>("--busy-wait")
        {
            Description = "Seconds to keep trying files found busy (being moved by an interrupted earlier run; with --remove, open for writing) before they count as skipped (or, on a subvolume being removed, failed).",
            DefaultValueFactory = _ => 30,
        };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the volume's bricks to come up.", DefaultValueFactory = _ => 30 };
        var cmd = new Command("rebalance",
            "Rebalance a distributed volume as a client of it: give every directory a layout over all subvolumes (after a brick was added), " +
            "then move each file whose name now hashes to another subvolume (data, GFID, mode, owner, times, xattrs, holes). A file open for " +
            "writing is skipped and reported; a writer that starts during a move waits for it. Ends with 'rebalance: N moved, S skipped, " +
            "F failed'; exits 1 if F > 0, 130 if interrupted. Can be interrupted and run again.")
        {
            volfile, fixLayout, json, remove, busyWait, timeout,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var removing = parse.GetValue(remove) ?? [];
            if (parse.GetValue(fixLayout) && removing.Length > 0)
            {
                error.WriteLine("graft rebalance: --fix-layout moves no file, so it cannot drain a subvolume (--remove)");
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
                if (volume.Session.ActiveGraph.Translators.OfType<DistributeTranslator>().FirstOrDefault() is not { } dht)
                {
                    error.WriteLine($"graft rebalance: {path}: the volume has no cluster/distribute");
                    return 1;
                }
                if (CheckRemoving(dht, removing, path) is { } problem)
                {
                    error.WriteLine($"graft rebalance: {problem}");
                    return 2;
                }
                // SIGINT and SIGTERM stop the walk between files (a move under way is finished or undone first).
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                var progress = new RebalanceProgress();
                bool asJson = parse.GetValue(json);
                var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && !asJson;
                int period = asJson ? 1000 : 200;
                using (new Timer(_ => Report(output, progress, asJson, terminal, last: false), null, period, period))
                {
                    var settings = new RebalanceSettings(parse.GetValue(fixLayout), removing, TimeSpan.FromSeconds(parse.GetValue(busyWait)));
                    await new Rebalancer(volume, dht, progress, error, settings).RunAsync(stop.Token).ConfigureAwait(false);
                }
                progress.Interrupted = stop.IsCancellationRequested;
                progress.Phase = "done";
                Report(output, progress, asJson, terminal, last: true);
                lock (progress)
                {
                    output.WriteLine($"fix-layout: {progress.Directories} directories, {progress.LayoutsFixed} layouts written, {progress.FilesSeen} files seen");
                    if (!parse.GetValue(fixLayout))
                    {
                        double s = progress.MoveStartedMs < 0 ? 0 : (progress.Clock.ElapsedMilliseconds - progress.MoveStartedMs) / 1000.0;
                        output.WriteLine($"moved: {progress.Moved} files, {RebalanceProgress.Size(progress.BytesMoved)} in {s:0.0}s " +
                                         $"({RebalanceProgress.Size((long)(progress.BytesMoved / Math.Max(s, 1e-3)))}/s)");
                    }
                    if (removing.Length > 0 && !progress.Interrupted)
                        output.WriteLine(progress.Failed == 0
                            ? $"drained: {string.Join(", ", removing)} holds no file of the volume; a volfile without it can follow"
                            : $"not drained: {string.Join(", ", removing)} still holds files (above); do not remove it yet");
                    if (progress.Interrupted) output.WriteLine("interrupted: run graft rebalance again to finish");
                    output.WriteLine($"rebalance: {progress.Moved} moved, {progress.Skipped} skipped, {progress.Failed} failed");
                    output.Flush();
                }
                return progress.Interrupted ? 130 : progress.Failed > 0 ? 1 : 0;
            }
        });
        return cmd;
    }

    /// <summary>Each subvolume to drain must be one of distribute's, listed as decommissioned, so no mount places new names on it.</summary>
    private static string? CheckRemoving(DistributeTranslator dht, string[] removing, string path)
    {
        var names = dht.Children.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var decommissioned = dht.Options.GetString("decommissioned").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var r in removing)
        {
            if (!names.Contains(r)) return $"--remove {r}: not a subvolume of {dht.Name} ({string.Join(", ", names)})";
            if (!decommissioned.Contains(r))
                return $"--remove {r}: {path} does not list it in {dht.Name}'s 'option decommissioned': add it there first " +
                       "(mounts apply it in place and stop placing new names on it), then drain it";
        }
        return null;
    }

    private static void Report(TextWriter output, RebalanceProgress p, bool json, bool terminal, bool last)
    {
        lock (p)
        {
            if (!last && p.Phase == "done") return; // a tick that lost the race with the last report
            if (json) output.WriteLine(RebalanceProgress.Json(p.Snapshot(last)));
            else if (terminal)
            {
                output.Write("\r" + p.Line() + "   ");
                if (last) output.WriteLine();
            }
            output.Flush();
        }
    }
}
