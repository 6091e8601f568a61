using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Graft.Management.Bricks;
using Graft.Management.Store;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// This host's bricks follow the store: a started volume's bricks run, anything else's do not. Run on
// every change of "volumes/" and every ReconcileInterval (so a missed watch event costs a delay, not a
// wrong state). A brick's status goes to "status/VOLUME/BRICK" whenever it changes.
public sealed partial class ManagementDaemon
{
    private readonly BrickEnvironment _bricks;
    private readonly ConcurrentDictionary<string, BrickSupervisor> _supervisors = new();
    private readonly SemaphoreSlim _reconcileGate = new(1, 1);
    private readonly SemaphoreSlim _reconcileWanted = new(0);

    private void WakeReconcile()
    {
        if (_reconcileWanted.CurrentCount == 0) _reconcileWanted.Release();
    }

    private async Task ReconcileLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try { await ReconcileAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) when (e is StoreUnavailableException or ManagementError or IOException)
            {
                LogReconcileFailed(_log, e.Message);
            }
            try { await _reconcileWanted.WaitAsync(_o.ReconcileInterval, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task ReconcileAsync(CancellationToken ct)
    {
        await _reconcileGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var volumes = await Volumes.ListAsync(ct).ConfigureAwait(false);
            var wanted = new Dictionary<string, (Volume Volume, Brick Brick)>();
            foreach (var v in volumes.Where(v => v.State == VolumeState.Started))
            {
                foreach (var b in v.Bricks.Where(b => b.Host == Self))
                {
                    var brick = b;
                    if (brick.Port == 0)
                    {
                        // The brick's port is chosen here, once, and kept in the volume: client volfiles
                        // stay the same across brick restarts and daemon restarts.
                        var port = FreePort(brick.Host, volumes);
                        var nv = await Volumes.SetBrickPortAsync(v.Name, brick.Name, port, ct).ConfigureAwait(false);
                        brick = nv.Bricks.First(x => x.Name == b.Name);
                    }
                    wanted[brick.Name] = (v, brick);
                }
            }
            // Stop what should not run (volume stopped or deleted, brick removed) or runs with other settings.
            foreach (var (name, sup) in _supervisors)
            {
                if (wanted.TryGetValue(name, out var w) && w.Brick == sup.Brick) continue;
                _supervisors.TryRemove(name, out _);
                await sup.StopBrickAsync().ConfigureAwait(false);
                if (!wanted.ContainsKey(name))
                    await _store.CommitAsync([], [new StoreOp.Delete($"status/{sup.VolumeName}/{name}")], ct).ConfigureAwait(false);
            }
            foreach (var (name, (v, b)) in wanted)
            {
                if (_supervisors.ContainsKey(name)) continue;
                var volume = v.Name;
                var before = await _store.GetAsync($"status/{volume}/{name}", ct).ConfigureAwait(false);
                var restarts = before is null ? 0 : System.Text.Json.JsonSerializer.Deserialize<BrickStatus>(before.Value, Volume.Json)!.Restarts;
                _supervisors[name] = new BrickSupervisor(volume, b, _bricks, s => ReportStatus(volume, b.Name, s),
                    _loggers.CreateLogger("Graft.Management.Bricks"), restarts);
            }
        }
        finally { _reconcileGate.Release(); }
    }

    private readonly ConcurrentDictionary<string, BrickStatus> _reported = new();
    // One status write at a time: two in flight could land out of order and leave an older status
    // (a brick "starting" after it was "online") in the store with no change left to correct it.
    private readonly SemaphoreSlim _statusWrites = new(1, 1);

    /// <summary>Writes a brick's status to the store (fire and forget: the next change or reconcile writes it again).</summary>
    private void ReportStatus(string volume, string brick, BrickStatus status)
    {
        var key = $"status/{volume}/{brick}";
        _reported[key] = status;
        _ = Task.Run(async () =>
        {
            try
            {
                await _statusWrites.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    // The latest when this write's turn comes: the last write queued writes the last status.
                    if (_reported.TryGetValue(key, out var latest))
                        await _store.CommitAsync([], [new StoreOp.Put(key, System.Text.Json.JsonSerializer.Serialize(latest, Volume.Json))], _stop.Token).ConfigureAwait(false);
                }
                finally { _statusWrites.Release(); }
            }
            catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException or ObjectDisposedException) { }
        });
    }

    /// <summary>A port free on <paramref name="host"/> now and not given to any other brick of that host in the store.</summary>
    private static int FreePort(string host, IReadOnlyList<Volume> volumes)
    {
        var taken = volumes.SelectMany(v => v.Bricks).Where(b => b.Host == host).Select(b => b.Port).ToHashSet();
        var address = IPAddress.TryParse(host, out var a) ? a : Dns.GetHostAddresses(host).First(x => x.AddressFamily == AddressFamily.InterNetwork);
        for (int i = 0; i < 100; i++)
        {
            using var l = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            l.Bind(new IPEndPoint(address, 0));
            var port = ((IPEndPoint)l.LocalEndPoint!).Port;
            if (!taken.Contains(port)) return port;
        }
        throw new ManagementError($"no free port on {host}");
    }

    /// <summary>Waits (bounded) until every brick of <paramref name="volume"/> on this host reports online.</summary>
    private async Task<bool> WaitLocalBricksAsync(string volume, TimeSpan bound, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + bound;
        while (DateTime.UtcNow < deadline)
        {
            WakeReconcile();
            var v = await Volumes.FindAsync(volume, ct).ConfigureAwait(false);
            if (v is null) return false;
            var mine = v.Bricks.Where(b => b.Host == Self).ToList();
            if (mine.All(b => _supervisors.TryGetValue(b.Name, out var s) && s.Status.Online)) return true;
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "reconciling bricks failed: {Problem}; trying again")]
    private static partial void LogReconcileFailed(ILogger log, string problem);
}
