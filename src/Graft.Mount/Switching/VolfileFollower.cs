using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Mount.Switching;

/// <summary>
/// Keeps a mount session on the volfile it was mounted with: every new content of the file
/// (written in place or replaced by rename, or re-read on SIGHUP via <see cref="Reload"/>) is
/// applied to the session, one at a time. The mount daemon owns one of these.
/// </summary>
public sealed partial class VolfileFollower : IDisposable
{
    private readonly MountSession _session;
    private readonly string _path;
    private readonly VolfileWatcher? _watcher;
    private readonly IVolfileSource? _source;
    private readonly ILogger _log;

    public VolfileFollower(MountSession session, string path, string appliedText, ILoggerFactory? loggers = null)
    {
        _session = session;
        _path = path;
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Graft.Mount.Volfile");
        _watcher = new VolfileWatcher(path, appliedText, ApplyAsync);
        _watcher.ReadFailed += e => LogReadFailed(_log, e, _path);
        _watcher.Refused += why =>
        {
            _session.RefuseVolfile(_path, why);
            LogRefused(_log, _path, why);
        };
    }

    /// <summary>Follows a management daemon's subscription instead of a file (`graft mount HOST:/VOLUME`).</summary>
    public VolfileFollower(MountSession session, IVolfileSource source, ILoggerFactory? loggers = null)
    {
        _session = session;
        _path = source.Name;
        _source = source;
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Graft.Mount.Volfile");
        source.Start(ApplyAsync);
    }

    /// <summary>Where the volfile comes from, for `graft state`.</summary>
    public VolfileSourceInfo Source => _source?.Info ?? new VolfileSourceInfo("file", _path, null);

    /// <summary>The outcome of the last volfile applied (tests and logs).</summary>
    public SwitchResult? Last { get; private set; }

    /// <summary>Re-reads the volfile now (SIGHUP).</summary>
    public void Reload()
    {
        _watcher?.Poke();
        _source?.Poke();
    }

    private async Task ApplyAsync(string text)
    {
        var r = await _session.ApplyVolfileAsync(text, _path).ConfigureAwait(false);
        Last = r;
        LogApplied(_log, _path, r.Outcome, r.Generation, r.Message);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _source?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "volfile {Path}: {Outcome} (graph {Generation}): {Message}")]
    private static partial void LogApplied(ILogger log, string path, SwitchOutcome outcome, long generation, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "volfile {Path} refused, the active graph keeps serving: {Reason}")]
    private static partial void LogRefused(ILogger log, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "volfile {Path} could not be read; waiting for the next change")]
    private static partial void LogReadFailed(ILogger log, Exception e, string path);
}
