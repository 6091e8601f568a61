using System.Runtime.InteropServices;
using System.Text.Json;
using Graft.Core;
using Graft.Core.Diagnostics;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;
using Graft.Mount;
using Graft.Mount.Control;
using Graft.Mount.Switching;
using Microsoft.Extensions.Logging;

namespace Graft.Fuse;

/// <summary>What one mount daemon serves and how long it waits for things.</summary>
public sealed record MountDaemonOptions(string VolfilePath, string MountPoint, MountSettings Settings)
{
    /// <summary>Bound on the volume's children coming up (the brick answering) before mounting.</summary>
    public TimeSpan ChildUpTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>After SIGTERM, how long a lazily detached mount (files still open) is served before the
    /// connection is aborted so the daemon can exit.</summary>
    public TimeSpan UnmountTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// The volfile comes from this source (a management daemon's subscription) instead of the file
    /// <see cref="VolfilePath"/> (then only the name errors are reported under); <see cref="InitialVolfile"/>
    /// is its first content.
    /// </summary>
    public IVolfileSource? Source { get; init; }
    public string? InitialVolfile { get; init; }
    /// <summary>Where the mount's metrics are served (shown by `graft state` as metricsUrl); null: not served.</summary>
    public string? MetricsUrl { get; init; }
    /// <summary>Where SIGUSR1 writes state dumps (the daemon's log directory).</summary>
    public string DumpDirectory { get; init; } = Path.GetTempPath();
}

/// <summary>
/// The mount daemon (GlusterFS's glusterfs client process): volfile → graph (init, start, bounded
/// child-up wait) → mount session → FUSE mount + bridge, plus the control socket that answers
/// `graft state`. Runs in the foreground until the mount goes away: plain umount(8) or `graft umount`
/// ends the kernel connection, SIGTERM/SIGINT unmount first. A SIGKILLed daemon leaves a mount that
/// answers ENOTCONN until someone unmounts it (the kernel aborts the connection when the device closes).
/// </summary>
public static partial class MountDaemon
{
    /// <summary>Line printed on stdout once the mount answers; a detaching parent waits for the state socket instead.</summary>
    public const string ReadyPrefix = "mounted ";

    public static async Task<int> RunAsync(MountDaemonOptions o, XlatorRegistry registry, ILoggerFactory loggers,
        TextWriter output, TextWriter error)
    {
        var log = loggers.CreateLogger("Graft.Mount.Daemon");
        var mp = Path.TrimEndingDirectorySeparator(Path.GetFullPath(o.MountPoint));
        if (!Directory.Exists(mp)) { error.WriteLine($"graft mount: {mp}: no such directory"); return 1; }
        if (FuseMount.FindDevice(mp) is not null)
        {
            error.WriteLine($"graft mount: something is already mounted on {mp} (graft umount {mp} first)");
            return 1;
        }

        string text;
        var volfile = o.Source is null ? Path.GetFullPath(o.VolfilePath) : o.VolfilePath;
        if (o.InitialVolfile is { } given) text = given;   // fetched from a management daemon: held in memory, never a file others could write
        else
        {
            try
            {
                // The daemon follows this file for as long as it runs: only root or its own user may be able to write it.
                if (!TrustedVolfile.TryRead(volfile, out text, out var refusal))
                {
                    error.WriteLine($"graft mount: {volfile}: refused: {refusal}");
                    return 1;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"graft mount: {volfile}: cannot read: {e.Message}");
                return 1;
            }
        }
        Graph graph;
        try { graph = GraphBuilder.Build(text, volfile, registry, generation: 1, o.Settings.Session.InodeLruLimit, loggers); }
        catch (VolfileException e) { error.WriteLine(e.Message); return 1; }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

        bool up;
        try { up = await graph.StartAndWaitAsync(o.ChildUpTimeout, CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"graft mount: the volume cannot start: {e.Message}");
            await graph.DestroyAsync().ConfigureAwait(false);
            return 1;
        }
        if (!up)
        {
            error.WriteLine(graph.SetupFailure is { } why
                ? $"graft mount: the volume cannot come up: {why}"
                : $"graft mount: the volume did not come up within {o.ChildUpTimeout.TotalSeconds:0}s (is its brick running and reachable?)");
            await graph.DestroyAsync().ConfigureAwait(false);
            return 1;
        }

        // The registry lets the session build new graphs when the volfile changes (live switching).
        var session = new MountSession(graph, o.Settings.Session with { Registry = registry, ChildUpTimeout = o.ChildUpTimeout }, loggers);
        var bridge = new FuseBridge(session, o.Settings.Bridge);
        var mounted = await FuseSession.MountAsync(mp, bridge, o.Settings.Fuse,
            loggers.CreateLogger("Graft.Fuse")).ConfigureAwait(false);
        if (!mounted.Ok)
        {
            error.WriteLine($"graft mount: cannot mount on {mp}: {mounted.Error}");
            await session.DisposeAsync().ConfigureAwait(false);
            return 1;
        }
        var fuse = mounted.Value;
        bridge.Attach(fuse);
        // Every new content of the volfile (an edit, a replace by rename, SIGHUP, or a push from the
        // management daemon) is applied to the session: reconfigured in place or switched to a new graph;
        // a refused one shows in `graft state`.
        using var follower = o.Source is { } source
            ? new VolfileFollower(session, source, loggers)
            : new VolfileFollower(session, volfile, text, loggers);
        ControlServer? control = null;
        try
        {
            control = new ControlServer(ControlClient.SocketPathFor(mp), command => Answer(session, follower, o, command));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            // The mount works without it; only `graft state` cannot see it.
            LogControlFailed(log, e, mp);
        }
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => { c.Cancel = true; follower.Reload(); });
        using var usr1 = PosixSignalRegistration.Create((PosixSignal)StateDump.SIGUSR1, c =>
        {
            c.Cancel = true;
            Dump(session, follower, o, mp, log);
        });
        output.WriteLine($"{ReadyPrefix}{mp} (pid {Environment.ProcessId})");
        output.Flush();
        LogMounted(log, mp, volfile, Environment.ProcessId);

        var first = await Task.WhenAny(stop.Task, fuse.Completion).ConfigureAwait(false);
        if (ReferenceEquals(first, stop.Task))
        {
            // SIGTERM: unmount (lazily if files are open); the readers stop when the kernel ends the connection.
            var err = fuse.Unmount();
            if (err != Errno.OK) LogUnmountFailed(log, mp, err);
            if (!await Ended(fuse.Completion, o.UnmountTimeout).ConfigureAwait(false))
            {
                LogAbortingBusyMount(log, mp, o.UnmountTimeout);
                fuse.Abort();
            }
        }
        else LogUnmounted(log, mp);

        control?.Dispose();
        bridge.Detach();
        fuse.Dispose();
        await session.DisposeAsync().ConfigureAwait(false);
        output.WriteLine($"unmounted {mp}");
        return 0;
    }

    static async Task<bool> Ended(Task t, TimeSpan bound)
    {
        try { await t.WaitAsync(bound).ConfigureAwait(false); return true; }
        catch (TimeoutException) { return false; }
    }

    /// <summary>
    /// The control socket's commands: "state" (`graft state`), "metrics" (`graft top`). Runs on the control
    /// thread; reads counters only, never calls into a graph.
    /// </summary>
    static string Answer(MountSession session, VolfileFollower follower, MountDaemonOptions o, string command) => command switch
    {
        "state" => State(session, follower, o).ToJson(),
        "metrics" => session.Metrics.Snapshot().ToJson(),
        _ => $"{{\"error\":{JsonSerializer.Serialize("unknown command: " + command)}}}",
    };

    static MountState State(MountSession session, VolfileFollower follower, MountDaemonOptions o) =>
        session.GetState() with { VolfileSource = follower.Source, MetricsUrl = o.MetricsUrl };

    /// <summary>SIGUSR1: the state and a metrics snapshot, as one JSON file in the log directory.</summary>
    static void Dump(MountSession session, VolfileFollower follower, MountDaemonOptions o, string mp, ILogger log)
    {
        try
        {
            var json = $"{{\"mountPoint\":{JsonSerializer.Serialize(mp)},\"state\":{State(session, follower, o).ToJson()},\"metrics\":{session.Metrics.Snapshot().ToJson()}}}";
            LogDumped(log, StateDump.Write(o.DumpDirectory, "mount-" + Slug(mp), json));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { LogDumpFailed(log, e, o.DumpDirectory); }
    }

    /// <summary>A file-name-safe name for a mount point: its path with '/' turned into '-' (as systemd does).</summary>
    public static string Slug(string mountPoint)
    {
        var s = mountPoint.Trim('/').Replace('/', '-');
        return s.Length == 0 ? "root" : s;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "state dump written to {Path}")]
    private static partial void LogDumped(ILogger log, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot write a state dump to {Directory}")]
    private static partial void LogDumpFailed(ILogger log, Exception e, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "mounted {MountPoint} from {Volfile} (pid {Pid})")]
    private static partial void LogMounted(ILogger log, string mountPoint, string volfile, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MountPoint} was unmounted; exiting")]
    private static partial void LogUnmounted(ILogger log, string mountPoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "unmounting {MountPoint} failed: {Error}")]
    private static partial void LogUnmountFailed(ILogger log, string mountPoint, Errno error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{MountPoint} still had open files {Timeout} after it was detached; aborting the connection")]
    private static partial void LogAbortingBusyMount(ILogger log, string mountPoint, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "no control socket for {MountPoint}; graft state will not see this mount")]
    private static partial void LogControlFailed(ILogger log, Exception e, string mountPoint);
}
