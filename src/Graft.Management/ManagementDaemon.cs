using System.Net;
using System.Security.Cryptography;
using Graft.Management.Bricks;
using Graft.Management.Peers;
using Graft.Management.Protocol;
using Graft.Management.Store;
using Graft.Management.Store.Etcd;
using Graft.Management.Store.Sqlite;
using Graft.Management.Volumes;
using Graft.Xlators.Protocol.Transport;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

/// <summary>What one `graft daemon` serves.</summary>
public sealed record DaemonOptions(string StateDir, IPAddress Listen, int Port, IReadOnlyList<string> GraftCommand)
{
    /// <summary>This daemon's host as bricks name it (HOST:/DIR); default the listen address.</summary>
    public string? Host { get; init; }
    /// <summary>etcd endpoints; none: the embedded SQLite store in the state dir.</summary>
    public IReadOnlyList<string> Etcd { get; init; } = [];
    /// <summary>Every key of this cluster lives under this etcd prefix (several clusters may share one etcd).</summary>
    public string EtcdPrefix { get; init; } = "/graft/";
    /// <summary>How often bricks are reconciled with the store even when no change was seen.</summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>How often a subscription is pinged, so a mount notices a daemon that went away without closing.</summary>
    public TimeSpan SubscriptionPing { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Bound on `volume start` waiting for the bricks of this host to come up, and on a mount's fetch waiting for brick ports.</summary>
    public TimeSpan BrickStartTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Bound on `volume heal NAME info` (its `graft heal --info` child is killed after it).</summary>
    public TimeSpan HealInfoTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// TLS for the control port (every connection proves a certificate of this CA), this host's bricks
    /// (run with these files) and the volfiles mounts get (naming the mount's own files); null: none.
    /// </summary>
    public TlsFiles? Tls { get; init; }

    public string HostName => Host ?? Listen.ToString();
}

/// <summary>
/// The management daemon (GlusterFS's glusterd): owns the cluster's volumes in its store, runs and
/// supervises this host's bricks, serves the control protocol to the CLI and volfile subscriptions to
/// mounts. Stopping it (SIGTERM) leaves bricks running; the next daemon on the state dir adopts them.
/// The data path never goes through it.
/// </summary>
public sealed partial class ManagementDaemon : IAsyncDisposable, IControlHandler
{
    private readonly DaemonOptions _o;
    private readonly IClusterStore _store;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly FileStream _lock;
    private readonly CancellationTokenSource _stop = new();
    private ManagementServer? _server;
    /// <summary>This daemon's TLS as a client of other daemons (probe, peer status), or null.</summary>
    private TlsConfig? _tls;
    private readonly List<Task> _background = [];

    public VolumeService Volumes { get; }
    public PeerPool Pool { get; }
    public string ClusterId { get; private set; } = "";
    public string SecretFile => Path.Combine(_o.StateDir, "secret");
    public IPEndPoint? EndPoint => _server?.LocalEndPoint;
    private string Self => _o.HostName;

    private ManagementDaemon(DaemonOptions o, IClusterStore store, FileStream stateLock, ILoggerFactory loggers)
    {
        _o = o;
        _store = store;
        _lock = stateLock;
        _loggers = loggers;
        _log = loggers.CreateLogger("Graft.Management.Daemon");
        Pool = new PeerPool(store);
        Volumes = new VolumeService(store, Pool.HostsAsync);
        _bricks = new BrickEnvironment(o.GraftCommand, Path.Combine(o.StateDir, "run"), Path.Combine(o.StateDir, "log"), SecretFile) { Tls = o.Tls };
    }

    /// <summary>Opens the state dir and the store, joins or creates the cluster, listens. Throws <see cref="ManagementError"/> on a bad configuration.</summary>
    public static async Task<ManagementDaemon> StartAsync(DaemonOptions o, ILoggerFactory loggers, CancellationToken ct = default)
    {
        // Bad TLS files are a configuration error now, not a refused connection later.
        var tls = o.Tls?.Load("this host's certificate");
        Directory.CreateDirectory(o.StateDir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(o.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        FileStream stateLock;
        try { stateLock = new FileStream(Path.Combine(o.StateDir, "daemon.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) { throw new ManagementError($"another graft daemon uses the state dir {o.StateDir}"); }
        IClusterStore store;
        try
        {
            store = o.Etcd.Count > 0
                ? new EtcdStore(o.Etcd, o.EtcdPrefix, loggers)
                : await SqliteStore.OpenAsync(Path.Combine(o.StateDir, "store.db"), ct).ConfigureAwait(false);
        }
        catch
        {
            await stateLock.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var d = new ManagementDaemon(o, store, stateLock, loggers);
        try
        {
            d._tls = tls;
            await d.JoinClusterAsync(ct).ConfigureAwait(false);
            await d.CheckTlsModeAsync(ct).ConfigureAwait(false);
            var secret = Handshake.LoadSecret(d.SecretFile);
            d._server = new ManagementServer(new IPEndPoint(o.Listen, o.Port), secret, d, loggers.CreateLogger("Graft.Management.Protocol"), tls);
            await d.UpdateOwnPortAsync(ct).ConfigureAwait(false);
            d._background.Add(Task.Run(d.ReconcileLoopAsync));
            d._background.Add(Task.Run(d.ChangeLoopAsync));
            d._background.Add(Task.Run(d.LeaderLoopAsync));
            d._background.Add(Task.Run(d.PresenceLoopAsync));
            LogStarted(d._log, d.Self, d.EndPoint!.ToString(), store.Kind, d.ClusterId);
            return d;
        }
        catch
        {
            await d.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The cluster's id and secret live in the store and are made once, by whichever daemon comes first
    /// (created only if absent); that daemon's host founds the pool. The secret is copied into the state
    /// dir (0600) for the bricks' --secret-file and the local CLI.
    /// </summary>
    private async Task JoinClusterAsync(CancellationToken ct)
    {
        var id = Guid.NewGuid().ToString();
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        await _store.CommitAsync(
            [StoreCondition.Absent("cluster/id")],
            [new StoreOp.Put("cluster/id", id), new StoreOp.Put("cluster/secret", secret),
             new StoreOp.Put(PeerPool.Key(Self), PeerPool.ToJson(new Peer(Self, _o.Port)))], ct).ConfigureAwait(false);
        ClusterId = (await _store.GetAsync("cluster/id", ct).ConfigureAwait(false))!.Value;
        secret = (await _store.GetAsync("cluster/secret", ct).ConfigureAwait(false))?.Value
                 ?? throw new ManagementError("the store has a cluster id but no secret");
        PrivateFile.Write(SecretFile, secret + "\n");
    }

    /// <summary>Keeps this daemon's pool entry's port current once it listens (a restart may pick another with --port 0).</summary>
    private async Task UpdateOwnPortAsync(CancellationToken ct)
    {
        if (await _store.GetAsync(PeerPool.Key(Self), ct).ConfigureAwait(false) is { } e
            && System.Text.Json.JsonSerializer.Deserialize<Peer>(e.Value, Volume.Json) is { } p && p.Port != EndPoint!.Port)
            await _store.CommitAsync([StoreCondition.Unchanged(e)], [new StoreOp.Put(e.Key, PeerPool.ToJson(p with { Port = EndPoint.Port }))], ct).ConfigureAwait(false);
    }

    /// <summary>Stops serving; bricks keep running for the next daemon to adopt.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_server is not null) await _server.DisposeAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_background).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false); }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException) { }
        foreach (var s in _supervisors.Values) await s.DisposeAsync().ConfigureAwait(false);
        _supervisors.Clear();
        await _store.DisposeAsync().ConfigureAwait(false);
        await _lock.DisposeAsync().ConfigureAwait(false);
        LogStopped(_log, Self);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "daemon for host {Host} listening on {EndPoint} ({Store} store, cluster {Cluster})")]
    private static partial void LogStarted(ILogger log, string host, string endPoint, string store, string cluster);

    [LoggerMessage(Level = LogLevel.Information, Message = "daemon for host {Host} stopped; its bricks keep running")]
    private static partial void LogStopped(ILogger log, string host);
}
