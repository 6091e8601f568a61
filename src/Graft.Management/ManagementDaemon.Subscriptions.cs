using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Graft.Management.Peers;
using Graft.Management.Protocol;
using Graft.Management.Store;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// Volfile subscriptions: a mount asks for a volume's client volfile and keeps the connection; every
// change of the volume (seen through the store's watch, whichever daemon made it) regenerates the
// volfile, and a subscriber whose text changed gets it pushed. Pings every SubscriptionPing let a mount
// notice a daemon that vanished without closing (and re-subscribe to a backup server).
public sealed partial class ManagementDaemon
{
    private TaskCompletionSource _volumesChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, int> _subscribers = new();
    private long _seenRevision;
    private readonly SemaphoreSlim _clientsGate = new(1, 1);

    /// <summary>Watches the store: volume changes wake the bricks' reconcile and every subscription.</summary>
    private async Task ChangeLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var from = await _store.RevisionAsync(ct).ConfigureAwait(false);
                await foreach (var rev in _store.WatchAsync("volumes/", from, ct).ConfigureAwait(false))
                {
                    Interlocked.Exchange(ref _seenRevision, rev);
                    WakeReconcile();
                    Interlocked.Exchange(ref _volumesChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (StoreUnavailableException e) { LogWatchFailed(_log, e.Message); }
            try { await Task.Delay(500, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
        }
    }

    public async Task SubscribeAsync(ControlSession session, JsonObject request, Func<JsonObject, Task> send, CancellationToken ct)
    {
        var name = request["volume"]?.GetValue<string>() ?? throw new ManagementError("volfile.subscribe: no volume named");
        var secretFile = request["secretFile"]?.GetValue<string>();
        // The path goes into the volfile as an option value: one absolute path on one line, nothing else.
        if (secretFile is not null && (!secretFile.StartsWith('/') || secretFile.Any(char.IsControl)))
            throw new ManagementError("volfile.subscribe: secretFile must be an absolute path");
        // With TLS the bricks require it too: the volfile names the mount's own files (it proved them on this connection).
        var tls = _o.Tls is null ? null : ClientTls(request);
        var v = await Volumes.GetAsync(name, ct).ConfigureAwait(false);
        if (!session.Authenticated
            && !PeerPool.Allowed(session.Remote, VolumeKeys.ValueOf(v, VolumeKeys.Find(VolumeKeys.AuthAllow)!), await Pool.HostsAsync(ct).ConfigureAwait(false)))
        {
            LogFetchRefused(_log, name, session.Remote.ToString());
            throw new ManagementError($"{session.Remote} may not mount volume {name} (its auth.allow)");
        }
        if (v.State != VolumeState.Started) throw new ManagementError($"volume {name} is not started (graft volume start {name})");
        v = await WaitPortsAsync(v, ct).ConfigureAwait(false);

        var secret = (await _store.GetAsync("cluster/secret", ct).ConfigureAwait(false))?.Value ?? "";
        string? sent = null;
        AddSubscriber(name, +1);
        try
        {
            bool first = true;
            while (!ct.IsCancellationRequested)
            {
                var changed = Volatile.Read(ref _volumesChanged).Task;
                var revision = await _store.GetAsync(Volume.Key(name), ct).ConfigureAwait(false);
                if (revision is not null)
                {
                    var cur = Volume.FromJson(revision.Value);
                    // A stopped volume keeps its last volfile on the mounts; they follow again once it starts.
                    if (cur.State == VolumeState.Started && cur.Bricks.All(b => b.Port != 0))
                    {
                        var text = VolfileGenerator.Client(cur, secretFile, tls);
                        if (text != sent)
                        {
                            var m = new JsonObject { ["volume"] = name, ["volfile"] = text, ["revision"] = revision.ModRevision, ["server"] = Self };
                            // The credentials go to an allowed mount once, with the first volfile; they are
                            // never logged, and the mount keeps them in a root-only file.
                            if (first) { m["secret"] = secret; await send(new JsonObject { ["ok"] = true, ["result"] = m }).ConfigureAwait(false); }
                            else { m["push"] = "volfile"; await send(m).ConfigureAwait(false); }
                            first = false;
                            sent = text;
                            LogPushed(_log, name, session.Remote.ToString(), revision.ModRevision);
                        }
                    }
                }
                try { await changed.WaitAsync(_o.SubscriptionPing, ct).ConfigureAwait(false); }
                catch (TimeoutException) { await send(new JsonObject { ["push"] = "ping" }).ConfigureAwait(false); }
            }
        }
        finally { AddSubscriber(name, -1); }
    }

    /// <summary>The mount's TLS files from a subscription request ("tls": {cert, key, ca}: absolute paths).</summary>
    private static TlsFiles ClientTls(JsonObject request)
    {
        string? P(string k) => request["tls"] is JsonObject t && t[k] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var (cert, key, ca) = (P("cert"), P("key"), P("ca"));
        if (!TlsFiles.Acceptable(cert) || !TlsFiles.Acceptable(key) || !TlsFiles.Acceptable(ca))
            throw new ManagementError("volfile.subscribe: this cluster's bricks use TLS; the request must name the mount's tls files (absolute paths)");
        return new TlsFiles(cert!, key!, ca!);
    }

    /// <summary>A just-started volume's bricks get their ports from their daemons: wait for them (bounded).</summary>
    private async Task<Volume> WaitPortsAsync(Volume v, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _o.BrickStartTimeout;
        while (v.Bricks.Any(b => b.Port == 0))
        {
            if (DateTime.UtcNow > deadline)
                throw new ManagementError($"volume {v.Name}: bricks {string.Join(", ", v.Bricks.Where(b => b.Port == 0).Select(b => b.Spec))} have no port yet (are their daemons running?)");
            await Task.Delay(100, ct).ConfigureAwait(false);
            v = await Volumes.GetAsync(v.Name, ct).ConfigureAwait(false);
        }
        return v;
    }

    private void AddSubscriber(string volume, int delta)
    {
        _subscribers.AddOrUpdate(volume, Math.Max(0, delta), (_, c) => Math.Max(0, c + delta));
        _ = Task.Run(async () =>
        {
            // One writer at a time, each writing the count as it is then: the last write is the truth.
            try
            {
                await _clientsGate.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    var n = _subscribers.GetValueOrDefault(volume);
                    await _store.CommitAsync([], [new StoreOp.Put($"clients/{volume}/{Self}", n.ToString(System.Globalization.CultureInfo.InvariantCulture))], _stop.Token).ConfigureAwait(false);
                }
                finally { _clientsGate.Release(); }
            }
            catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException or ObjectDisposedException) { }
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "store watch failed: {Problem}; watching again")]
    private static partial void LogWatchFailed(ILogger log, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "volume {Volume}: volfile refused to {Remote} (auth.allow)")]
    private static partial void LogFetchRefused(ILogger log, string volume, string remote);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume {Volume}: volfile revision {Revision} sent to {Remote}")]
    private static partial void LogPushed(ILogger log, string volume, string remote, long revision);
}
