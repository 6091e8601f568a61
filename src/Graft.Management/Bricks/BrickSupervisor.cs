using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management.Bricks;

/// <summary>What a daemon needs to run its host's bricks.</summary>
public sealed record BrickEnvironment(IReadOnlyList<string> GraftCommand, string RunDir, string LogDir, string SecretFile)
{
    /// <summary>First wait before restarting a brick that exited; doubles up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>A brick that ran this long without exiting starts again from <see cref="MinBackoff"/>.</summary>
    public TimeSpan HealthyAfter { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How often a brick's process is checked.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Bound on a brick's SIGTERM shutdown before SIGKILL.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(20);
    /// <summary>The daemon's TLS files, given to every brick (--tls-cert, --tls-key, --tls-ca); null: plaintext bricks.</summary>
    public Protocol.TlsFiles? Tls { get; init; }
}

/// <summary>
/// Runs one brick of this host as a `graft brick` process and keeps it running: spawned detached (so it
/// outlives the daemon), its pid in a pid file; restarted with backoff when it exits; adopted by a
/// restarted daemon when the pid file names a live process whose command line is this very brick (a
/// reused pid is not). Reports every change of port, pid, online or restart count.
/// </summary>
public sealed partial class BrickSupervisor : IAsyncDisposable
{
    private readonly string _volume;
    private readonly BrickEnvironment _env;
    private readonly Action<BrickStatus> _report;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _pid;
    private int _restarts;
    private bool _online;
    private string? _lastExit;

    /// <param name="restarts">Restarts counted so far (by an earlier daemon, from the store), so status keeps counting.</param>
    public BrickSupervisor(string volume, Brick brick, BrickEnvironment env, Action<BrickStatus> report, ILogger log, int restarts = 0)
    {
        _volume = volume;
        _restarts = restarts;
        Brick = brick;
        _env = env;
        _report = report;
        _log = log;
        _loop = Task.Run(RunAsync);
    }

    public Brick Brick { get; }
    public string VolumeName => _volume;
    public string PidFile => Path.Combine(_env.RunDir, $"{Brick.Name}.pid");
    public string LogFile => Path.Combine(_env.LogDir, $"{Brick.Name}.log");

    public BrickStatus Status => new(Brick.Host, Brick.Path, Brick.Port, _pid, _online, _restarts, _lastExit);

    /// <summary>The arguments after the CLI: what the brick runs as, and what adoption recognises.</summary>
    public IReadOnlyList<string> BrickArguments() =>
    [
        "brick", "--dir", Brick.Path, "--name", Brick.Name, "--port", Brick.Port.ToString(CultureInfo.InvariantCulture),
        "--listen", ListenAddress(Brick.Host), "--auth-allow", "*", "--secret-file", _env.SecretFile,
        .. _env.Tls is { } t ? (string[])["--tls-cert", t.Cert, "--tls-key", t.Key, "--tls-ca", t.Ca] : [],
    ];

    private static string ListenAddress(string host) =>
        IPAddress.TryParse(host, out _) ? host
        : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)?.ToString() ?? host;

    /// <summary>
    /// The pid file names a live process running exactly this brick (same arguments): adopted. One
    /// running this brick with other settings (TLS turned on or off, another port) is
    /// <paramref name="outdated"/>: it must stop before the brick starts again. Anything else (a
    /// reused pid) is neither.
    /// </summary>
    private int Adoptable(out int outdated)
    {
        outdated = 0;
        try
        {
            if (!int.TryParse(File.ReadAllText(PidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return 0;
            if (!Processes.Alive(pid)) return 0;
            var args = Processes.Arguments(pid);
            var want = BrickArguments();
            // The brick's own arguments end its command line (after the runtime and the CLI's path).
            if (args.Length >= want.Count && args[^want.Count..].SequenceEqual(want)) return pid;
            if (Follows(args, "brick", "--dir") && Follows(args, "--dir", Brick.Path) && Follows(args, "--name", Brick.Name)) outdated = pid;
            return 0;
        }
        catch (IOException) { return 0; }
    }

    private static bool Follows(string[] args, string first, string then)
    {
        var i = Array.IndexOf(args, first);
        return i >= 0 && i + 1 < args.Length && args[i + 1] == then;
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        var backoff = _env.MinBackoff;
        _pid = Adoptable(out var outdated);
        if (_pid != 0) LogAdopted(_log, _volume, Brick.Name, _pid);
        if (outdated != 0)
        {
            LogOutdated(_log, _volume, Brick.Name, outdated);
            if (!await Processes.StopAsync(outdated, _env.StopTimeout).ConfigureAwait(false)) LogStopFailed(_log, _volume, Brick.Name, outdated);
        }
        while (!ct.IsCancellationRequested)
        {
            if (_pid == 0)
            {
                try { _pid = Spawn(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    _lastExit = "cannot start: " + e.Message;
                    LogSpawnFailed(_log, _volume, Brick.Name, e.Message);
                    _report(Status);
                    if (!await Delay(backoff, ct).ConfigureAwait(false)) return;
                    backoff = Next(backoff);
                    continue;
                }
            }
            _online = false;
            _report(Status);
            var started = Stopwatch.StartNew();
            while (!ct.IsCancellationRequested && Processes.Alive(_pid))
            {
                if (!_online && await Listening().ConfigureAwait(false)) { _online = true; _report(Status); }
                if (!await Delay(_env.CheckInterval, ct).ConfigureAwait(false)) return;
            }
            if (ct.IsCancellationRequested) return;
            // It exited: restart, after a wait that grows while it keeps failing.
            _lastExit = $"exited after {started.Elapsed.TotalSeconds:0.#}s; see {LogFile}";
            LogExited(_log, _volume, Brick.Name, _pid, started.Elapsed.TotalSeconds);
            _pid = 0;
            _online = false;
            _restarts++;
            if (started.Elapsed > _env.HealthyAfter) backoff = _env.MinBackoff;
            _report(Status);
            if (!await Delay(backoff, ct).ConfigureAwait(false)) return;
            backoff = Next(backoff);
        }
    }

    private TimeSpan Next(TimeSpan b) => TimeSpan.FromTicks(Math.Min(b.Ticks * 2, _env.MaxBackoff.Ticks));

    private static async Task<bool> Delay(TimeSpan t, CancellationToken ct)
    {
        try { await Task.Delay(t, ct).ConfigureAwait(false); return true; }
        catch (OperationCanceledException) { return false; }
    }

    private int Spawn()
    {
        Directory.CreateDirectory(Brick.Path);
        Directory.CreateDirectory(_env.RunDir);
        using var p = Processes.StartDetached(LogFile, [.. _env.GraftCommand, .. BrickArguments()]);
        var tmp = PidFile + ".tmp";
        File.WriteAllText(tmp, p.Id.ToString(CultureInfo.InvariantCulture) + "\n");
        File.Move(tmp, PidFile, overwrite: true);
        LogSpawned(_log, _volume, Brick.Name, p.Id, Brick.Port);
        return p.Id;
    }

    private async Task<bool> Listening()
    {
        using var c = new TcpClient();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await c.ConnectAsync(ListenAddress(Brick.Host), Brick.Port, bound.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException) { return false; }
    }

    /// <summary>Stops supervising and stops the brick (volume stopped or deleted, brick removed).</summary>
    public async Task StopBrickAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (_pid != 0 && !await Processes.StopAsync(_pid, _env.StopTimeout).ConfigureAwait(false))
            LogStopFailed(_log, _volume, Brick.Name, _pid);
        LogStopped(_log, _volume, Brick.Name, _pid);
        _pid = 0;
        _online = false;
        try { File.Delete(PidFile); } catch (IOException) { }
    }

    /// <summary>Stops supervising but leaves the brick running (the daemon is stopping; a new one adopts it).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "volume {Volume}: brick {Brick} started (pid {Pid}, port {Port})")]
    private static partial void LogSpawned(ILogger log, string volume, string brick, int pid, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume {Volume}: brick {Brick} adopted (pid {Pid})")]
    private static partial void LogAdopted(ILogger log, string volume, string brick, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume {Volume}: brick {Brick} (pid {Pid}) runs with other settings; restarting it")]
    private static partial void LogOutdated(ILogger log, string volume, string brick, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "volume {Volume}: brick {Brick} (pid {Pid}) exited after {Seconds:0.#}s; restarting")]
    private static partial void LogExited(ILogger log, string volume, string brick, int pid, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "volume {Volume}: brick {Brick} cannot start: {Problem}")]
    private static partial void LogSpawnFailed(ILogger log, string volume, string brick, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume {Volume}: brick {Brick} (pid {Pid}) stopped")]
    private static partial void LogStopped(ILogger log, string volume, string brick, int pid);

    [LoggerMessage(Level = LogLevel.Error, Message = "volume {Volume}: brick {Brick} (pid {Pid}) did not stop")]
    private static partial void LogStopFailed(ILogger log, string volume, string brick, int pid);
}
