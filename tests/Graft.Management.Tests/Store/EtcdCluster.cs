using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Graft.Management.Tests.Store;

/// <summary>A test that needs Debian's etcd-server: skipped only when CI is unset and etcd is not installed; in CI it must run.</summary>
public sealed class EtcdFactAttribute : FactAttribute
{
    public EtcdFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) return;
        if (EtcdCluster.Binary is null) Skip = "needs etcd (apt-get install etcd-server; runs in CI)";
    }
}

/// <summary>
/// A real 3-member etcd cluster on loopback, started from Debian's etcd-server: free ports, data under
/// the clone's .graft/tmp, fast heartbeats so a lost member is noticed within a second. One per test
/// class (an xunit class fixture): starting it takes a few seconds. Members can be killed and restarted.
/// </summary>
public sealed class EtcdCluster : IAsyncLifetime
{
    public static string? Binary { get; } = new[] { "/usr/bin/etcd", "/usr/local/bin/etcd" }.FirstOrDefault(File.Exists);

    private readonly Process?[] _members = new Process?[3];
    private readonly int[] _clientPorts = new int[3];
    private readonly int[] _peerPorts = new int[3];
    private string _dir = "";
    private readonly string _token = "graft-test-" + Guid.NewGuid().ToString("N")[..8];

    public IReadOnlyList<string> Endpoints => [.. _clientPorts.Select(p => $"http://127.0.0.1:{p}")];
    public string EndpointList => string.Join(',', Endpoints);

    /// <summary>A key prefix no other test uses, so tests share the cluster without seeing each other.</summary>
    public static string NewPrefix() => "/graft-test-" + Guid.NewGuid().ToString("N")[..12] + "/";

    public async Task InitializeAsync()
    {
        if (Binary is null) return; // the tests using it are skipped (outside CI)
        _dir = Path.Combine(RepoRoot(), ".graft", "tmp", "etcd-" + _token);
        Directory.CreateDirectory(_dir);
        for (int i = 0; i < 3; i++) { _clientPorts[i] = FreePort(); _peerPorts[i] = FreePort(); }
        for (int i = 0; i < 3; i++) Start(i, "new");
        await WaitHealthyAsync(TimeSpan.FromSeconds(60));
    }

    private void Start(int i, string state)
    {
        var psi = new ProcessStartInfo(Binary!) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
                 {
                     "--name", $"m{i}", "--data-dir", Path.Combine(_dir, $"m{i}"),
                     "--listen-client-urls", $"http://127.0.0.1:{_clientPorts[i]}", "--advertise-client-urls", $"http://127.0.0.1:{_clientPorts[i]}",
                     "--listen-peer-urls", $"http://127.0.0.1:{_peerPorts[i]}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peerPorts[i]}",
                     "--initial-cluster", string.Join(',', Enumerable.Range(0, 3).Select(j => $"m{j}=http://127.0.0.1:{_peerPorts[j]}")),
                     "--initial-cluster-state", state, "--initial-cluster-token", _token,
                     "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn", "--logger", "zap",
                 })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _members[i] = p;
    }

    /// <summary>SIGKILLs member <paramref name="i"/>.</summary>
    public void Kill(int i)
    {
        var p = _members[i];
        if (p is null || p.HasExited) return;
        p.Kill();
        p.WaitForExit(10_000);
        p.Dispose();
        _members[i] = null;
    }

    /// <summary>Starts member <paramref name="i"/> again on its data (it rejoins the cluster).</summary>
    public Task RestartAsync(int i)
    {
        Kill(i);
        Start(i, "existing");
        return WaitHealthyAsync(TimeSpan.FromSeconds(30));
    }

    private async Task WaitHealthyAsync(TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        await using var store = new Graft.Management.Store.Etcd.EtcdStore(Endpoints, NewPrefix()) { OperationTimeout = TimeSpan.FromSeconds(2) };
        while (true)
        {
            try
            {
                await store.CommitAsync([], [new Graft.Management.Store.StoreOp.Put("health", "ok")]);
                return;
            }
            catch (Graft.Management.Store.StoreUnavailableException) when (sw.Elapsed < bound) { await Task.Delay(200); }
        }
    }

    private static int FreePort()
    {
        using var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)l.LocalEndPoint!).Port;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Graft.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the clone above " + AppContext.BaseDirectory);
    }

    public Task DisposeAsync()
    {
        for (int i = 0; i < 3; i++) Kill(i);
        try { if (_dir.Length > 0) Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Task.CompletedTask;
    }
}
