using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Graft.Management.Store;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// Heal sweeps of replicated volumes (GlusterFS's self-heal daemon): the leader of the "jobs" election
// runs `graft heal --volfile FILE --json` — the same pass as the CLI's, over the bricks' heal indexes —
// once per volume when it is asked (`volume heal NAME`), when a brick of the volume came back (a new
// pid online), and every cluster.heal-interval. A sweep is a child process, as a rebalance is: its
// client graph, connections and memory never live in the daemon. "heal/VOLUME" (HealStatus) holds what
// is asked, what runs and what the last sweep did; `volume heal NAME info` adds a live look at the
// indexes (`graft heal --info`, run by the daemon that took the command).
public sealed partial class ManagementDaemon
{
    /// <summary>Runs while this daemon leads: starts the sweeps that are due, one at a time.</summary>
    private async Task HealWhileLeadingAsync(CancellationToken ct)
    {
        long since = Now;
        // The pid each brick was last seen online with: another pid online means the brick came back.
        var seen = new Dictionary<string, int>();
        await ResumeAbandonedSweepsAsync(ct).ConfigureAwait(false);
        while (true)
        {
            foreach (var v in await Volumes.ListAsync(ct).ConfigureAwait(false))
            {
                if (v.Replica < 2 || v.State != VolumeState.Started) continue;
                if (await DueAsync(v, since, seen, ct).ConfigureAwait(false) is { } trigger)
                    await SweepAsync(v, trigger, ct).ConfigureAwait(false);
            }
            await Task.Delay(JobPoll, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A sweep left "running" by a leader that went away is asked for again.</summary>
    private async Task ResumeAbandonedSweepsAsync(CancellationToken ct)
    {
        foreach (var e in await _store.ListAsync("heal/", ct).ConfigureAwait(false))
            if (JsonSerializer.Deserialize<HealStatus>(e.Value, Volume.Json) is { State: "running" } s)
                await UpdateHealAsync(s.Volume, h => h with { State = "idle", Requested = true, Running = null }, ct).ConfigureAwait(false);
    }

    /// <summary>Why a sweep of <paramref name="v"/> is due now ("request", "brick-up", "interval"), or null.</summary>
    private async Task<string?> DueAsync(Volume v, long since, Dictionary<string, int> seen, CancellationToken ct)
    {
        string? trigger = null;
        foreach (var e in await _store.ListAsync($"status/{v.Name}/", ct).ConfigureAwait(false))
        {
            var s = JsonSerializer.Deserialize<BrickStatus>(e.Value, Volume.Json)!;
            if (!s.Online) continue;
            if (seen.TryGetValue(e.Key, out var pid) && pid != s.Pid) trigger = "brick-up";
            seen[e.Key] = s.Pid;
        }
        var status = await HealStatusAsync(v.Name, ct).ConfigureAwait(false);
        if (status.Requested) return "request";
        if (trigger is not null) return trigger;
        var interval = HealInterval(v);
        if (interval > 0 && Now - (status.Last?.EndedUnixMs ?? since) >= interval) return "interval";
        return null;
    }

    /// <summary>cluster.heal-interval in milliseconds (0: no periodic sweeps).</summary>
    private static long HealInterval(Volume v)
    {
        var key = VolumeKeys.Find(VolumeKeys.HealInterval)!;
        return key.Spec.Parse(VolumeKeys.ValueOf(v, key), out _) as long? ?? 0;
    }

    private async Task SweepAsync(Volume v, string trigger, CancellationToken ct)
    {
        long started = Now;
        await UpdateHealAsync(v.Name, h => h with
        {
            State = "running", Requested = false, Leader = Self,
            Running = new HealSweep(trigger, started, 0, "running", 0, 0, 0, 0, [], null),
        }, ct).ConfigureAwait(false);
        LogSweep(_log, v.Name, trigger);
        var volfile = JobVolfile(v, "heal");
        var run = await RunHealAsync(volfile, [], Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
        var sweep = ToSweep(trigger, started, run);
        // A volume deleted meanwhile keeps no record (its heal key went with it).
        if (await Volumes.FindAsync(v.Name, ct).ConfigureAwait(false) is null) return;
        await UpdateHealAsync(v.Name, h => h with { State = "idle", Running = null, Last = sweep }, ct).ConfigureAwait(false);
        LogSweepDone(_log, v.Name, sweep.Result, sweep.Healed, sweep.Pending, sweep.SplitBrain);
    }

    /// <summary>What a `graft heal --json` child did: its exit code (null: killed, Stopped when asked to), its last JSON report, its stderr's tail.</summary>
    private sealed record HealRun(int? Exit, JsonObject? Report, string Errors, bool Stopped = false);

    /// <summary>`graft heal --volfile FILE --json [EXTRA]`, killed when <paramref name="ct"/> fires or after <paramref name="bound"/>.</summary>
    private async Task<HealRun> RunHealAsync(string volfile, string[] extra, TimeSpan bound, CancellationToken ct)
    {
        Process started;
        try
        {
            started = StartGraft(["heal", "--volfile", volfile, "--json", "--timeout",
                ((int)_o.BrickStartTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture), .. extra]);
        }
        catch (System.ComponentModel.Win32Exception e) { return new HealRun(null, null, $"cannot start {_o.GraftCommand[0]}: {e.Message}"); }
        using var p = started;
        var errTask = p.StandardError.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (bound != Timeout.InfiniteTimeSpan) limit.CancelAfter(bound);
        string? last = null;
        try
        {
            // One JSON object a second; the last says done and lists the entries and the bricks.
            while (await p.StandardOutput.ReadLineAsync(limit.Token).ConfigureAwait(false) is { } line)
                if (line.StartsWith('{')) last = line;
            await p.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync(p).ConfigureAwait(false);
            return ct.IsCancellationRequested ? new HealRun(null, null, "", Stopped: true) : new HealRun(null, null, $"no answer within {bound.TotalSeconds:0}s");
        }
        var errors = (await errTask.ConfigureAwait(false)).Trim();
        if (errors.Length > 4096) errors = errors[^4096..];
        JsonObject? report = null;
        try { report = last is null ? null : JsonNode.Parse(last) as JsonObject; }
        catch (JsonException) { }
        return new HealRun(p.ExitCode, report is not null && report["done"]?.GetValue<bool>() == true ? report : null, errors);
    }

    private static HealSweep ToSweep(string trigger, long started, HealRun run)
    {
        var r = run.Report;
        long N(string key) => r?[key]?.GetValue<long>() ?? 0;
        string result = run switch
        {
            { Stopped: true } => "stopped",
            { Exit: null } => "failed (" + run.Errors + ")",
            { Report: null } => $"failed (exit {run.Exit})",
            { Exit: 0 } => "healed",
            { Exit: 1 } => "pending",
            { Exit: 130 } => "stopped",
            _ => $"failed (exit {run.Exit})",
        };
        return new HealSweep(trigger, started, Now, result, N("scanned"), N("healed"), N("pending"), N("splitBrain"), Entries(r), run.Errors.Length > 0 ? run.Errors : null);
    }

    private static List<HealEntry> Entries(JsonObject? report) =>
        report?["entries"] is JsonArray a ? [.. a.Select(e => new HealEntry(e!["path"]!.GetValue<string>(), e["state"]!.GetValue<string>()))] : [];

    private async Task<HealStatus> HealStatusAsync(string volume, CancellationToken ct) =>
        await _store.GetAsync(HealStatus.Key(volume), ct).ConfigureAwait(false) is { } e
            ? JsonSerializer.Deserialize<HealStatus>(e.Value, Volume.Json)!
            : new HealStatus(volume, "idle", false, null, 0);

    /// <summary>Read, change, commit if unchanged (the leader and `volume heal` both write the record).</summary>
    private async Task<HealStatus> UpdateHealAsync(string volume, Func<HealStatus, HealStatus> change, CancellationToken ct)
    {
        var key = HealStatus.Key(volume);
        while (true)
        {
            var cur = await _store.GetAsync(key, ct).ConfigureAwait(false);
            var old = cur is null ? new HealStatus(volume, "idle", false, null, 0) : JsonSerializer.Deserialize<HealStatus>(cur.Value, Volume.Json)!;
            var next = change(old) with { UpdatedUnixMs = Now };
            StoreCondition c = cur is null ? StoreCondition.Absent(key) : StoreCondition.Unchanged(cur);
            if (await _store.CommitAsync([c], [new StoreOp.Put(key, JsonSerializer.Serialize(next, Volume.Json))], ct).ConfigureAwait(false) is not null)
                return next;
        }
    }

    /// <summary>`volume heal NAME` (a sweep, by the leader, soon) and `volume heal NAME info`.</summary>
    private async Task<JsonNode?> HealRequestAsync(string name, string action, CancellationToken ct)
    {
        var v = await Volumes.GetAsync(name, ct).ConfigureAwait(false);
        if (v.Replica < 2) throw new ManagementError($"volume {name} is not replicated (replica {v.Replica}): there is nothing to heal");
        if (v.State != VolumeState.Started) throw new ManagementError($"volume {name} is not started: its bricks must be served to be healed or looked at");
        switch (action)
        {
            case "start":
                return SweepJson(v, await UpdateHealAsync(name, h => h with { Requested = true }, ct).ConfigureAwait(false));
            case "info": return await HealInfoAsync(v, ct).ConfigureAwait(false);
            default: throw new ManagementError($"heal action must be info or nothing (a sweep now), not '{action}'");
        }
    }

    /// <summary>The indexes now, per brick, and the objects that need heal (`graft heal --info`), with the sweeps' record.</summary>
    private async Task<JsonObject> HealInfoAsync(Volume v, CancellationToken ct)
    {
        // Each call its own volfile: two info requests may run at once.
        var volfile = JobVolfile(v, $"heal-info-{Guid.NewGuid():N}");
        HealRun run;
        try { run = await RunHealAsync(volfile, ["--info"], _o.HealInfoTimeout, ct).ConfigureAwait(false); }
        finally { File.Delete(volfile); }
        var byName = run.Report?["bricks"] is JsonArray b
            ? b.ToDictionary(x => x!["subvolume"]!.GetValue<string>(), x => (Up: x!["up"]!.GetValue<bool>(), Indexed: x["indexed"]?.GetValue<int>()))
            : [];
        var bricks = new JsonArray();
        foreach (var brick in v.Bricks)
        {
            var found = byName.TryGetValue(VolfileGenerator.ClientName(v, brick), out var x);
            bricks.Add(new JsonObject
            {
                ["host"] = brick.Host, ["path"] = brick.Path, ["name"] = brick.Name,
                ["connected"] = found && x.Up, ["entries"] = found && x.Up ? x.Indexed : null,
            });
        }
        var entries = Entries(run.Report);
        var o = new JsonObject
        {
            ["volume"] = v.Name, ["bricks"] = bricks,
            ["entries"] = new JsonArray([.. entries.Select(e => (JsonNode)new JsonObject { ["path"] = e.Path, ["state"] = e.State })]),
            ["pending"] = entries.Count(e => e.State == "pending"), ["splitBrain"] = entries.Count(e => e.State == "split-brain"),
            ["sweep"] = SweepJson(v, await HealStatusAsync(v.Name, ct).ConfigureAwait(false)),
        };
        if (run.Report is null) o["error"] = $"graft heal --info: {(run.Exit is { } code ? "exit " + code.ToString(CultureInfo.InvariantCulture) : "")} {run.Errors}".Trim();
        return o;
    }

    private static JsonObject SweepJson(Volume v, HealStatus s)
    {
        var o = (JsonObject)JsonSerializer.SerializeToNode(s, Volume.Json)!;
        o["intervalSeconds"] = HealInterval(v) / 1000;
        return o;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "heal sweep of volume {Volume} started ({Trigger})")]
    private static partial void LogSweep(ILogger log, string volume, string trigger);

    [LoggerMessage(Level = LogLevel.Information, Message = "heal sweep of volume {Volume}: {Result} ({Healed} healed, {Pending} pending, {SplitBrain} split-brain)")]
    private static partial void LogSweepDone(ILogger log, string volume, string result, long healed, long pending, long splitBrain);
}
