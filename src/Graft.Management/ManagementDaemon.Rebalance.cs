using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Graft.Management.Store;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// Work that must run once in the cluster (a rebalance, a fix-layout after add-brick, a remove-brick
// drain) is asked for in the store ("rebalance/VOLUME", state "requested") by whichever daemon took the
// command, and run by the leader: the daemon holding the "jobs" election (an etcd lease; with SQLite the
// one daemon); the same leader runs heal sweeps beside them (ManagementDaemon.Heal.cs). The job is
// `graft rebalance --volfile FILE --json` (issue 12) over a generated client volfile; its state and
// output are written back for `volume rebalance NAME status`.
public sealed partial class ManagementDaemon
{
    /// <summary>How often the leader looks for requested jobs.</summary>
    private static readonly TimeSpan JobPoll = TimeSpan.FromMilliseconds(500);

    private async Task LeaderLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var lead = await _store.LeadAsync("jobs", Self, ct).ConfigureAwait(false);
                await using var leadScope = lead.ConfigureAwait(false);
                LogLeading(_log, Self);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, lead.Lost);
                // Jobs and heal sweeps side by side: a long heal never holds up a requested rebalance, nor the reverse.
                // Either failing ends this leadership's work (a linked stop), and the loop leads again.
                async Task Lead(Func<CancellationToken, Task> work)
                {
                    try { await work(both.Token).ConfigureAwait(false); }
                    catch { await both.CancelAsync().ConfigureAwait(false); throw; }
                }
                await Task.WhenAll(Lead(JobsWhileLeadingAsync), Lead(HealWhileLeadingAsync)).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (OperationCanceledException) { LogLeadLost(_log, Self); }
            catch (StoreUnavailableException e) { LogJobsFailed(_log, e.Message); }
            catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // A record this version cannot read, a child that cannot start: this leadership's work
                // ends, the daemon does not stop leading for good. The next turn reads the store afresh.
                LogJobsFailed(_log, e.GetType().Name + ": " + e.Message);
            }
            try { await Task.Delay(500, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
        }
    }

    private async Task JobsWhileLeadingAsync(CancellationToken ct)
    {
        // A job left "running" by a leader that went away (its child was killed with its leadership)
        // runs again: rebalance and fix-layout pick up where the last run stopped.
        foreach (var e in await _store.ListAsync("rebalance/", ct).ConfigureAwait(false))
            if (JsonSerializer.Deserialize<RebalanceStatus>(e.Value, Volume.Json) is { State: "running" } abandoned)
                await PutJobAsync(abandoned with { State = "requested", UpdatedUnixMs = Now }, ct).ConfigureAwait(false);
        while (true)
        {
            foreach (var e in await _store.ListAsync("rebalance/", ct).ConfigureAwait(false))
            {
                var job = JsonSerializer.Deserialize<RebalanceStatus>(e.Value, Volume.Json)!;
                if (job.State == "requested") await RunJobAsync(job, ct).ConfigureAwait(false);
            }
            await Task.Delay(JobPoll, ct).ConfigureAwait(false);
        }
    }

    /// <summary>`graft ARGS...` as a child of this daemon (the command it was started with), output redirected.</summary>
    private Process StartGraft(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(_o.GraftCommand[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in _o.GraftCommand.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>A client volfile of the volume for a job this daemon runs as a client (rebalance, heal): its secret, its TLS files, no write-behind, no md-cache.</summary>
    private string JobVolfile(Volume v, string what)
    {
        var path = Path.Combine(_o.StateDir, "run", $"{what}-{v.Name}.vol");
        PrivateFile.Write(path, VolfileGenerator.Client(v with { Options = new Dictionary<string, string> { [VolumeKeys.WriteBehind] = "off", [VolumeKeys.MdCache] = "off" } }, SecretFile, _o.Tls));
        return path;
    }

    private Task PutJobAsync(RebalanceStatus job, CancellationToken ct) =>
        _store.CommitAsync([], [new StoreOp.Put("rebalance/" + job.Volume, JsonSerializer.Serialize(job, Volume.Json))], ct);

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private async Task RunJobAsync(RebalanceStatus job, CancellationToken ct)
    {
        var v = await Volumes.FindAsync(job.Volume, ct).ConfigureAwait(false);
        if (v is null) return;
        job = job with { State = "running", Leader = Self, UpdatedUnixMs = Now };
        await PutJobAsync(job, ct).ConfigureAwait(false);
        // Bricks just added are started by their hosts' daemons: the job needs every brick up.
        if (!await AllBricksOnlineAsync(v, _o.BrickStartTimeout, ct).ConfigureAwait(false))
        {
            await PutJobAsync(job with { State = "failed (bricks not online)", Output = $"not every brick of {v.Name} came online within {_o.BrickStartTimeout.TotalSeconds:0}s (graft volume status {v.Name})", UpdatedUnixMs = Now }, ct).ConfigureAwait(false);
            return;
        }
        v = await Volumes.GetAsync(v.Name, ct).ConfigureAwait(false);
        var volfile = JobVolfile(v, "rebalance");
        var args = new List<string> { "rebalance", "--volfile", volfile, "--json" };
        if (job.Kind == "fix-layout") args.Add("--fix-layout");
        // Any full run while bricks are being removed drains them (a fix-layout cannot: it moves nothing).
        if (job.Kind != "fix-layout")
            foreach (var s in VolfileGenerator.DrainedSubvolumes(v)) { args.Add("--remove"); args.Add(s); }
        LogJob(_log, job.Kind, v.Name);
        using var p = StartGraft(args);
        var output = new StringBuilder();
        var outTask = p.StandardOutput.ReadToEndAsync(ct);
        var errTask = p.StandardError.ReadToEndAsync(ct);
        string state;
        try
        {
            while (true)
            {
                using (var tick = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    tick.CancelAfter(JobPoll);
                    try { await p.WaitForExitAsync(tick.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                }
                if (p.HasExited) { state = p.ExitCode == 0 ? "completed" : $"failed (exit {p.ExitCode})"; break; }
                var cur = await _store.GetAsync("rebalance/" + v.Name, ct).ConfigureAwait(false);
                if (cur is null || JsonSerializer.Deserialize<RebalanceStatus>(cur.Value, Volume.Json)!.State == "stopping")
                {
                    await KillAsync(p).ConfigureAwait(false);
                    state = "stopped";
                    break;
                }
            }
        }
        catch
        {
            // Leadership lost, the daemon stopping, the store unreadable: the job must not run on
            // unwatched beside the next leader's. The record stays "running"; the next leader runs it again.
            await KillAsync(p).ConfigureAwait(false);
            throw;
        }
        output.Append(await outTask.ConfigureAwait(false)).Append(await errTask.ConfigureAwait(false));
        var text = output.ToString().Trim();
        if (text.Length > 8192) text = text[^8192..];
        await PutJobAsync(job with { State = state, Output = text, UpdatedUnixMs = Now }, ct).ConfigureAwait(false);
        LogJobDone(_log, job.Kind, v.Name, state);
    }

    private static async Task KillAsync(Process p)
    {
        try { p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }   // exited meanwhile
        await p.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Waits (bounded) until every brick of the volume reports online in the store.</summary>
    private async Task<bool> AllBricksOnlineAsync(Volume v, TimeSpan bound, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + bound;
        while (true)
        {
            var online = (await _store.ListAsync($"status/{v.Name}/", ct).ConfigureAwait(false))
                .Select(e => JsonSerializer.Deserialize<BrickStatus>(e.Value, Volume.Json)!)
                .Where(s => s.Online).Select(s => (s.Host, s.Path)).ToHashSet();
            var cur = await Volumes.FindAsync(v.Name, ct).ConfigureAwait(false);
            if (cur is null) return false;
            if (cur.Bricks.All(b => online.Contains((b.Host, b.Path)))) return true;
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Host} leads the cluster's jobs")]
    private static partial void LogLeading(ILogger log, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Host} lost the jobs leadership")]
    private static partial void LogLeadLost(ILogger log, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "jobs: {Problem}")]
    private static partial void LogJobsFailed(ILogger log, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind} of volume {Volume} started")]
    private static partial void LogJob(ILogger log, string kind, string volume);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind} of volume {Volume}: {State}")]
    private static partial void LogJobDone(ILogger log, string kind, string volume, string state);
}
