using System.CommandLine;
using System.Runtime.InteropServices;
using Graft.Cli.Heal;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Cluster.Replicate;
using Microsoft.Extensions.Logging;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft heal --volfile FILE [--info] [--json]` and `graft heal --volfile FILE --split-brain-source
/// SUBVOLUME PATH`: a heal pass over a replicated volume as a client of it (docs/replicate.md).
/// </summary>
public static class HealCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var volfile = new Option<FileInfo>("--volfile") { Description = "The client volfile of the volume (cluster/replicate in it, possibly under cluster/distribute).", Required = true };
        var info = new Option<bool>("--info") { Description = "Heal nothing: list the objects that need heal and those in split brain." };
        var json = new Option<bool>("--json") { Description = "Print progress as one JSON object per second (and a last one, listing the objects not healed) instead of a progress bar." };
        var source = new Option<string[]>("--split-brain-source")
        {
            Description = "Resolve the split brain of PATH by making every copy like SUBVOLUME's (one of replicate's subvolumes).",
            HelpName = "SUBVOLUME PATH",
            Arity = new ArgumentArity(2, 2),
            AllowMultipleArgumentsPerToken = true,
        };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the volume's bricks to come up.", DefaultValueFactory = _ => 30 };
        var cmd = new Command("heal",
            "Heal a replicated volume as a client of it: every object the bricks' heal indexes list (a brick was down, or a client died in a " +
            "change) is made whole from a good copy — entries, data, metadata; bricks without an index are walked instead. Ends with 'heal: N healed, P pending, S split-brain'; " +
            "exits 1 if P + S > 0, 130 if interrupted. --info only lists; --split-brain-source resolves one split brain.")
        {
            volfile, info, json, source, timeout,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var path = parse.GetRequiredValue(volfile).FullName;
            // What a heal could not do (a copy that refused, a split brain) is said on stderr as it happens.
            using var loggers = LoggerFactory.Create(b => b
                .SetMinimumLevel(LogLevel.Warning)
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .AddFilter("Microsoft", LogLevel.Warning));
            Volume volume;
            try
            {
                volume = await Volume.OpenVolfileAsync(path, new VolumeOptions
                {
                    Registry = registry(), ChildUpTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                }, loggers: loggers, ct: ct).ConfigureAwait(false);
            }
            catch (VolfileException e) { error.WriteLine(e.Message); return 1; }
            catch (GraftIOException e) { error.WriteLine($"graft heal: {path}: {e.Message}"); return 1; }
            await using (volume.ConfigureAwait(false))
            {
                var sets = volume.Session.ActiveGraph.Translators.OfType<ReplicateTranslator>().ToList();
                if (sets.Count == 0)
                {
                    error.WriteLine($"graft heal: {path}: the volume has no cluster/replicate");
                    return 1;
                }
                // Heals here are this command's explicit work: its own lookups start none (--info heals nothing).
                foreach (var s in sets) s.SelfHeal = false;
                if (parse.GetValue(source) is { Length: 2 } pick) return await ResolveAsync(volume, sets, pick[0], pick[1], output, error).ConfigureAwait(false);

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                var progress = new HealProgress();
                bool asJson = parse.GetValue(json), infoOnly = parse.GetValue(info);
                var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && !asJson;
                int period = asJson ? 1000 : 200;
                var reportLock = new object();
                bool finished = false;
                void Report(bool last)
                {
                    lock (reportLock)
                    {
                        if (finished) return;
                        finished = last;
                        if (asJson) output.WriteLine(progress.Snapshot(last).ToJsonString());
                        else if (terminal) { output.Write("\r" + progress.Line() + "   "); if (last) output.WriteLine(); }
                        output.Flush();
                    }
                }
                using (new Timer(_ => Report(false), null, period, period))
                    await new Healer(volume, sets, progress, infoOnly).RunAsync(stop.Token).ConfigureAwait(false);
                progress.Interrupted = stop.IsCancellationRequested;
                Report(true);
                if (!asJson)
                    lock (progress.Named)
                        foreach (var (p, state) in progress.Named)
                            if (infoOnly || state != "healed") output.WriteLine($"{state}: {p}");
                if (progress.Interrupted) output.WriteLine("interrupted: run graft heal again to finish");
                output.WriteLine($"heal: {progress.Healed} healed, {progress.Pending} pending, {progress.SplitBrain} split-brain");
                output.Flush();
                return progress.Interrupted ? 130 : progress.Pending + progress.SplitBrain > 0 ? 1 : 0;
            }
        });
        return cmd;
    }

    /// <summary>--split-brain-source SUBVOLUME PATH: the replica set that has SUBVOLUME heals PATH from it.</summary>
    private static async Task<int> ResolveAsync(Volume volume, List<ReplicateTranslator> sets, string subvolume, string file, TextWriter output, TextWriter error)
    {
        var set = sets.FirstOrDefault(s => s.Children.Any(c => c.Name == subvolume));
        if (set is null)
        {
            error.WriteLine($"graft heal: --split-brain-source {subvolume}: not a subvolume of any replicate ({string.Join(", ", sets.SelectMany(s => s.Children).Select(c => c.Name))})");
            return 2;
        }
        int index = set.Children.Select((c, i) => (c, i)).First(p => p.c.Name == subvolume).i;
        // Found through its directory's listing: the file's own stat answers EIO while it is in split brain.
        var trimmed = "/" + file.Trim('/');
        var dir = Path.GetDirectoryName(trimmed) ?? "/";
        var name = Path.GetFileName(trimmed);
        Gfid? gfid = null;
        try
        {
            await foreach (var e in volume.EnumerateEntriesAsync(dir).ConfigureAwait(false))
                if (e.Name == name) { gfid = e.Gfid; break; }
        }
        catch (GraftIOException e) { error.WriteLine($"graft heal: {dir}: {e.Message}"); return 1; }
        if (gfid is not { } g) { error.WriteLine($"graft heal: {trimmed}: no such file in the volume"); return 1; }
        var outcome = await set.HealAsync(g, index).ConfigureAwait(false);
        output.WriteLine($"{trimmed}: {Describe(outcome)} from {subvolume}");
        output.WriteLine($"heal: {(outcome == HealOutcome.Healed ? 1 : 0)} healed, {(outcome == HealOutcome.Pending ? 1 : 0)} pending, {(outcome == HealOutcome.SplitBrain ? 1 : 0)} split-brain");
        return outcome is HealOutcome.Healed or HealOutcome.Clean ? 0 : 1;
    }

    private static string Describe(HealOutcome o) => o switch
    {
        HealOutcome.Healed => "healed", HealOutcome.Clean => "nothing to heal", HealOutcome.Pending => "still pending (a copy is down?)",
        HealOutcome.SplitBrain => "still in split brain", _ => "not found",
    };
}
