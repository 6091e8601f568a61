using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Graft.Core;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>How a test brick authenticates its clients.</summary>
internal enum BrickAuth
{
    /// <summary>Clients must prove <see cref="TestSecret"/> (the default: tests act as root, which an unauthenticated session is not).</summary>
    TestSecret,
    /// <summary>No secret: every session is unauthenticated (root-squashed), unless TLS or the arguments say otherwise.</summary>
    None,
}

/// <summary>
/// `graft brick` as a real child process on loopback: started from the CLI assembly built beside
/// this test, ready once it prints `listening ADDR:PORT`. Its log (stderr) is kept for assertions.
/// </summary>
internal sealed partial class BrickProcess : IAsyncDisposable
{
    private readonly Process _p;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource<int> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BrickProcess(Process p) { _p = p; }

    public int Port { get; private set; }
    public int Pid => _p.Id;
    public bool HasExited => _p.HasExited;
    public IEnumerable<string> Log => _log;

    /// <summary>How many descriptors the brick has open; a brick that is gone fails the test with its exit code and log.</summary>
    public int OpenDescriptors()
    {
        try { return Directory.GetFiles($"/proc/{_p.Id}/fd").Length; }
        catch (DirectoryNotFoundException)
        {
            _p.WaitForExit(5000);
            Assert.Fail($"the brick exited ({(_p.HasExited ? "code " + _p.ExitCode : "still exiting")}):\n" + string.Join('\n', _log.TakeLast(40)));
            throw;
        }
    }

    public static string NewTempDir()
    {
        var t = Path.Combine(Path.GetTempPath(), "graft-e2e-network", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(t);
        return t;
    }

    /// <summary>`graft brick ARGS`, with the test secret unless the arguments bring their own (or a volfile).</summary>
    public static Task<BrickProcess> StartAsync(params string[] args) => StartAsync(BrickAuth.TestSecret, null, args);

    public static Task<BrickProcess> StartAsync(BrickAuth auth, params string[] args) => StartAsync(auth, null, args);

    /// <summary>A brick whose RLIMIT_NOFILE (soft and hard) is <paramref name="openFiles"/>, through prlimit(1).</summary>
    public static Task<BrickProcess> StartWithFileLimitAsync(int openFiles, params string[] args) => StartAsync(BrickAuth.TestSecret, openFiles, args);

    private static async Task<BrickProcess> StartAsync(BrickAuth auth, int? openFiles, string[] args)
    {
        if (auth == BrickAuth.TestSecret && !args.Contains("--secret-file") && !args.Contains("--volfile"))
            args = [.. args, "--secret-file", TestSecret.File];
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        Assert.True(File.Exists(dll), $"CLI not built beside the tests: {dll}");
        var psi = new ProcessStartInfo(openFiles is null ? "dotnet" : "prlimit") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (openFiles is int n) { psi.ArgumentList.Add($"--nofile={n}:{n}"); psi.ArgumentList.Add("dotnet"); }   // prlimit execs it: same pid
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("brick");
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var b = new BrickProcess(p);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            b._log.Enqueue("out: " + e.Data);
            if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
                b._ready.TrySetResult(int.Parse(e.Data[(e.Data.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture));
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) b._log.Enqueue(e.Data); };
        p.Exited += (_, _) => b._ready.TrySetException(new InvalidOperationException("brick exited before listening:\n" + string.Join('\n', b._log)));
        p.EnableRaisingEvents = true;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try { b.Port = await b._ready.Task.WaitAsync(TimeSpan.FromSeconds(60)); }
        catch { await b.DisposeAsync(); throw; }
        return b;
    }

    public static Task<BrickProcess> ServeDirAsync(string dir, int port = 0, params string[] more) => ServeDirAsync(BrickAuth.TestSecret, dir, port, more);

    public static Task<BrickProcess> ServeDirAsync(BrickAuth auth, string dir, int port = 0, params string[] more) =>
        StartAsync(auth, [.. new[] { "--dir", dir, "--port", port.ToString(CultureInfo.InvariantCulture) }, .. more]);

    /// <summary>
    /// <paramref name="count"/> bricks, b0, b1, ... in new directories of those names under <paramref name="parent"/> (a
    /// replica set's), each with <paramref name="more"/> options, started one after the other. Each is added to
    /// <paramref name="started"/> as soon as it runs, so the caller stops every one it got, also when a later one fails.
    /// </summary>
    public static async Task ServeNewDirsAsync(string parent, int count, List<BrickProcess> started, params string[] more)
    {
        for (int i = 0; i < count; i++)
        {
            var dir = Path.Combine(parent, "b" + i.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            started.Add(await ServeDirAsync(dir, 0, more));
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    public const int SIGKILL = 9, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19;

    public void Signal(int sig) => Assert.Equal(0, kill(_p.Id, sig));

    /// <summary>SIGSTOP, then wait (bounded) until every thread of the brick is really stopped.</summary>
    public Task FreezeAsync() => Sys.FreezeAsync(_p.Id);

    public async Task KillHardAsync()
    {
        Signal(SIGKILL);
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>SIGTERM, and the exit code once it is gone (bounded).</summary>
    public async Task<int> StopAsync()
    {
        if (_p.HasExited) return _p.ExitCode;
        Signal(SIGCONT);
        Signal(SIGTERM);
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        return _p.ExitCode;
    }

    /// <summary>Waits (bounded) for a log line containing <paramref name="text"/>.</summary>
    public async Task<string> WaitForLogAsync(string text, int timeoutMs = 10000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            foreach (var l in _log) if (l.Contains(text, StringComparison.Ordinal)) return l;
            Assert.True(Environment.TickCount64 < deadline, $"brick never logged '{text}'. Log:\n{string.Join('\n', _log)}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_p.HasExited)
            {
                kill(_p.Id, SIGCONT);
                _p.Kill();
                await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException) { }
        _p.Dispose();
    }
}

/// <summary>A client graph (protocol/client only) in this process, pointed at a brick.</summary>
internal static class NetClient
{
    /// <summary>The client graph; with <paramref name="auth"/> <see cref="BrickAuth.TestSecret"/> (the default) it proves the test secret.</summary>
    public static Graph NewGraph(int port, string brick, Dictionary<string, string>? options = null, long generation = 1, BrickAuth auth = BrickAuth.TestSecret)
    {
        var o = new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1",
            ["remote-port"] = port.ToString(CultureInfo.InvariantCulture),
            ["remote-subvolume"] = brick,
            ["reconnect-min-backoff"] = "50ms",
            ["reconnect-max-backoff"] = "500ms",
        };
        if (auth == BrickAuth.TestSecret) o["secret-file"] = TestSecret.File;
        foreach (var (k, v) in options ?? []) o[k] = v;
        return Graph.Linear(generation, (ProtocolClient.Spec, "client", o));
    }

    public static async Task<Graph> ConnectAsync(int port, string brick, Dictionary<string, string>? options = null, BrickAuth auth = BrickAuth.TestSecret)
    {
        var g = NewGraph(port, brick, options, auth: auth);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None), "client did not come up");
        return g;
    }

    public static async Task StopAsync(this Graph g)
    {
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(30));
        await g.DestroyAsync();
    }

    public static async Task Until(Func<Task<bool>> cond, string what, int timeoutMs = 15000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!await cond())
        {
            Assert.True(Environment.TickCount64 < deadline, $"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }

    public static async Task Until(Func<bool> cond, string what, int timeoutMs = 15000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!cond())
        {
            Assert.True(Environment.TickCount64 < deadline, $"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }
}
