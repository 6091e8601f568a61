using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Mount;

/// <summary>What applying a volfile did.</summary>
public enum SwitchOutcome
{
    /// <summary>The volfile describes the active graph already.</summary>
    Unchanged,
    /// <summary>Only run-time options changed; applied in place, no new graph.</summary>
    Reconfigured,
    /// <summary>A new graph was built and is now active.</summary>
    Switched,
    /// <summary>A new graph was built but its children did not come up in time; the old graph keeps serving and the new one keeps trying.</summary>
    Pending,
    /// <summary>The volfile is invalid or its graph could not be initialised; the old graph keeps serving.</summary>
    Failed,
    /// <summary>A newer volfile arrived before this one's graph came up; this graph was dropped.</summary>
    Superseded,
}

public sealed record SwitchResult(SwitchOutcome Outcome, long Generation, string Message);

/// <summary>The last volfile that could not be applied, for `graft state`.</summary>
public sealed record VolfileErrorInfo(string? File, int Line, string Message);

// Graph switching (DESIGN invariants 6): a new graph is built and initialised beside the active
// one and published with one atomic write once its children are up. No request waits for the
// switch and no per-fd work happens at switch time: handles move lazily, on their next use
// (FileMigrator).
public sealed partial class MountSession
{
    private readonly ILoggerFactory? _loggers;
    private volatile VolfileErrorInfo? _lastVolfileError;

    /// <summary>The last volfile (or graph) that could not be applied; null once a later one was.</summary>
    public VolfileErrorInfo? LastVolfileError => _lastVolfileError;

    /// <summary>Records that the volfile at <paramref name="file"/> was not read at all (it could have been written by
    /// someone it may not come from): shown as <see cref="LastVolfileError"/> like a broken one; the graph is unchanged.</summary>
    public void RefuseVolfile(string file, string reason) => _lastVolfileError = new VolfileErrorInfo(file, 0, $"{file}: {reason}");

    /// <summary>Graphs this session still holds: the active one, older ones not yet retired, and one starting.</summary>
    public IReadOnlyList<Graph> Graphs => _graphs.All;

    /// <summary>
    /// Applies a volfile: nothing if it describes the active graph, a reconfigure in place if only
    /// run-time options changed, otherwise a new graph that becomes active once its children are
    /// up (bounded by <see cref="MountOptions.ChildUpTimeout"/>). On any failure the old graph keeps
    /// serving and the error is kept for <see cref="LastVolfileError"/>.
    /// </summary>
    public async Task<SwitchResult> ApplyVolfileAsync(string text, string? file = null, CancellationToken ct = default)
    {
        var registry = Options.Registry ?? throw new InvalidOperationException("MountOptions.Registry is needed to apply volfiles");
        VolfileModel model;
        try
        {
            model = VolfileModel.Parse(text, file ?? "<volfile>");
            model.Validate(registry);
        }
        catch (VolfileException e)
        {
            _lastVolfileError = new VolfileErrorInfo(e.File, e.Line, e.Message);
            LogVolfileRejected(_log, e.Message);
            return new SwitchResult(SwitchOutcome.Failed, ActiveGraph.Generation, e.Message);
        }

        Graph g;
        CancellationTokenSource cancel;
        await _graphs.SwitchLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var active = ActiveGraph;
            var diff = VolfileDiff.Compare(active, model, registry);
            if (diff.Kind != VolfileChangeKind.NewGraph)
            {
                // A pending graph is superseded by this volfile, which the active graph already serves.
                DropPending();
                if (diff.Kind == VolfileChangeKind.Identical)
                {
                    _lastVolfileError = null;
                    return new SwitchResult(SwitchOutcome.Unchanged, active.Generation, "the active graph already serves this volfile");
                }
                var applied = active.Reconfigure(model, registry);
                if (applied.Kind != VolfileChangeKind.NewGraph)
                {
                    Interlocked.Increment(ref _counters.Reconfigures);
                    _lastVolfileError = null;
                    LogReconfigured(_log, active.Generation, diff.Reason);
                    return new SwitchResult(SwitchOutcome.Reconfigured, active.Generation, diff.Reason);
                }
                // A translator refused its new values: fall through to a new graph.
            }
            DropPending();
            try
            {
                g = GraphBuilder.Build(model, registry, _graphs.NextGeneration(), Options.InodeLruLimit, _loggers);
            }
            catch (VolfileException e)
            {
                _lastVolfileError = new VolfileErrorInfo(e.File, e.Line, e.Message);
                return new SwitchResult(SwitchOutcome.Failed, active.Generation, e.Message);
            }
            g.MountId = Options.MountId;
            _locks.Watch(g);
            WatchUpcalls(g);
            cancel = new CancellationTokenSource();
            _graphs.AddPending(g, cancel);
        }
        finally { _graphs.SwitchLock.Release(); }

        try { await g.InitAsync(cancel.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _lastVolfileError = new VolfileErrorInfo(file, 0, $"graph {g.Generation} failed to initialise: {e.Message}");
            LogInitFailed(_log, e, g.Generation);
            await AbandonAsync(g).ConfigureAwait(false);
            return new SwitchResult(SwitchOutcome.Failed, ActiveGraph.Generation, e.Message);
        }
        catch (OperationCanceledException)
        {
            return new SwitchResult(SwitchOutcome.Superseded, g.Generation, "superseded by a newer volfile");
        }
        g.Start();

        try
        {
            await g.ChildUp.WaitAsync(Options.ChildUpTimeout, cancel.Token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var msg = $"graph {g.Generation}: children not up within {Options.ChildUpTimeout.TotalSeconds:0.###} s; graph {ActiveGraph.Generation} keeps serving and the new graph keeps trying";
            _lastVolfileError = new VolfileErrorInfo(file, 0, msg);
            LogChildUpTimeout(_log, g.Generation, Options.ChildUpTimeout);
            _ = ActivateWhenUpAsync(g, cancel.Token);
            return new SwitchResult(SwitchOutcome.Pending, g.Generation, msg);
        }
        catch (OperationCanceledException)
        {
            return new SwitchResult(SwitchOutcome.Superseded, g.Generation, "superseded by a newer volfile");
        }
        return Activate(g)
            ? new SwitchResult(SwitchOutcome.Switched, g.Generation, $"graph {g.Generation} is active")
            : new SwitchResult(SwitchOutcome.Superseded, g.Generation, "superseded by a newer volfile");
    }

    /// <summary>A graph that missed the child-up bound goes on waiting until it is up or superseded.</summary>
    private async Task ActivateWhenUpAsync(Graph g, CancellationToken ct)
    {
        try
        {
            await g.ChildUp.WaitAsync(ct).ConfigureAwait(false);
            if (Activate(g)) _lastVolfileError = null;
        }
        catch (OperationCanceledException) { /* superseded: DropPending tears it down */ }
    }

    /// <summary>Publishes <paramref name="g"/> as the active graph, unless it was superseded meanwhile.</summary>
    private bool Activate(Graph g)
    {
        if (!_graphs.TryActivate(g, out var old, out var sweep)) return false;
        Interlocked.Increment(ref _counters.Switches);
        _lastVolfileError = null;
        LogSwitched(_log, old.Generation, g.Generation);
        _ = RetireAsync(old, sweep);
        GraphActivated?.Invoke();
        return true;
    }

    /// <summary>
    /// Raised once a new graph is the active one (on the thread that activated it; handlers must be quick and
    /// must not throw): a front end that cached answers of the old graph for long drops them here.
    /// </summary>
    public event Action? GraphActivated;

    /// <summary>Drops a graph that was built but never activated (a newer volfile supersedes it).</summary>
    private void DropPending()
    {
        var (g, c) = _graphs.TakePending();
        if (g is null) return;
        c?.Cancel();
        c?.Dispose();
        LogSuperseded(_log, g.Generation);
        _ = AbandonAsync(g);
    }

    /// <summary>Tears down a graph no handle ever used: PARENT_DOWN (bounded), then destroy.</summary>
    private async Task AbandonAsync(Graph g)
    {
        await DrainAndDestroyAsync(g).ConfigureAwait(false);
        Interlocked.Increment(ref _counters.GraphsDestroyed);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "volfile rejected, the active graph keeps serving: {Message}")]
    private static partial void LogVolfileRejected(ILogger log, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "graph {Generation} reconfigured in place: {Reason}")]
    private static partial void LogReconfigured(ILogger log, long generation, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "graph {Generation} failed to initialise; the active graph keeps serving")]
    private static partial void LogInitFailed(ILogger log, Exception e, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "graph {Generation}: children not up within {Timeout}; the old graph keeps serving")]
    private static partial void LogChildUpTimeout(ILogger log, long generation, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "switched from graph {Old} to graph {New}")]
    private static partial void LogSwitched(ILogger log, long old, long @new);

    [LoggerMessage(Level = LogLevel.Information, Message = "graph {Generation} superseded by a newer volfile before it came up")]
    private static partial void LogSuperseded(ILogger log, long generation);
}
