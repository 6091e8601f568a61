using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `graft daemon` as a real child process: its own state dir, loopback address and a free port, ready
/// once it prints `listening ADDR:PORT`. <see cref="Cli"/> runs the CLI against it with its secret.
/// Dispose stops it and every brick it started (bricks outlive their daemon on purpose).
/// </summary>
internal sealed class DaemonProcess : IAsyncDisposable
{
    private Process _p;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string[] _extra;

    public string StateDir { get; }
    public string Address { get; }
    public int Port { get; private set; }
    public int Pid => _p.Id;
    public string Server => $"{Address}:{Port}";
    public string SecretFile => Path.Combine(StateDir, "secret");
    public string Log => string.Join('\n', _log);

    private DaemonProcess(string stateDir, string address, string[] extra, Process p)
    {
        StateDir = stateDir;
        Address = address;
        _extra = extra;
        _p = p;
    }

    public static async Task<DaemonProcess> StartAsync(string stateDir, string address = "127.0.0.1", params string[] extra)
    {
        var d = new DaemonProcess(stateDir, address, extra, null!);
        await d.LaunchAsync(0);
        return d;
    }

    private async Task LaunchAsync(int port)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dll, "daemon", "--state-dir", StateDir, "--listen", Address, "--port", port.ToString(CultureInfo.InvariantCulture) }.Concat(_extra))
            psi.ArgumentList.Add(a);
        var ready = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _log.Enqueue("out: " + e.Data);
            if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
                ready.TrySetResult(int.Parse(e.Data[(e.Data.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture));
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) _log.Enqueue(e.Data); };
        p.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("daemon exited before listening:\n" + Log));
        p.EnableRaisingEvents = true;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _p = p;
        Port = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGTERM, wait, and start a new daemon on the same state dir and port (it adopts the bricks).</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync(Port);
    }

    public async Task StopAsync()
    {
        if (_p.HasExited) return;
        Sys.kill(_p.Id, 15);
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async Task KillAsync()
    {
        if (_p.HasExited) return;
        _p.Kill();
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>`graft --server THIS --secret-file ITS_SECRET ARGS...`.</summary>
    public Task<Run> Cli(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        // The connection options are recursive: they go after the group verb (volume, peer).
        var withServer = args.Length > 0 ? [args[0], "--server", Server, "--secret-file", SecretFile, .. args[1..]] : args;
        return Proc.RunAsync("dotnet", [dll, .. withServer], seconds: 120);
    }

    public async Task<JsonNode> Json(params string[] args)
    {
        var r = (await Cli([.. args, "--json"])).Ok(string.Join(' ', args));
        return JsonNode.Parse(r.Out)!;
    }

    /// <summary>`volume status NAME --json`.</summary>
    public async Task<JsonObject> StatusAsync(string volume) => (JsonObject)await Json("volume", "status", volume);

    /// <summary>The pids in the state dir's pid files: the bricks this daemon (or an earlier one) started.</summary>
    public IEnumerable<int> BrickPids()
    {
        var run = Path.Combine(StateDir, "run");
        if (!Directory.Exists(run)) yield break;
        foreach (var f in Directory.GetFiles(run, "*.pid"))
            if (int.TryParse(File.ReadAllText(f).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) yield return pid;
    }

    /// <summary>Every running brick started with this daemon's secret file: found in /proc, so a test that removed the state dir leaves none behind.</summary>
    private IEnumerable<int> RunningBricks()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            string[] args;
            try { args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0'); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var i = Array.IndexOf(args, "--secret-file");
            if (args.Contains("brick") && i >= 0 && i + 1 < args.Length && args[i + 1] == SecretFile) yield return pid;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await KillAsync(); } catch (Exception e) when (e is InvalidOperationException or TimeoutException) { }
        foreach (var pid in RunningBricks().ToList()) Sys.kill(pid, 9);
        _p.Dispose();
    }
}
