using System.Text.Json;
using System.Text.Json.Nodes;
using Graft.Management.Peers;
using Graft.Management.Protocol;
using Graft.Management.Store;
using Graft.Management.Volumes;

namespace Graft.Management;

// The control protocol's requests (docs/management.md lists them). Every refusal is a ManagementError
// whose message names what is wrong; the CLI prints it as is.
public sealed partial class ManagementDaemon
{
    public async Task<JsonNode?> HandleAsync(ControlSession session, string op, JsonObject r, CancellationToken ct)
    {
        switch (op)
        {
            case "daemon.info":
                return new JsonObject
                {
                    ["host"] = Self, ["port"] = EndPoint?.Port, ["clusterId"] = ClusterId, ["store"] = _store.Kind,
                    ["leader"] = await _store.LeaderAsync("jobs", ct).ConfigureAwait(false),
                    ["revision"] = await _store.RevisionAsync(ct).ConfigureAwait(false),
                };
            case "peer.probe": return await ProbeAsync(Str(r, "address"), ct).ConfigureAwait(false);
            case "peer.status": return await PeerStatusAsync(ct).ConfigureAwait(false);
            case "peer.detach":
                await Pool.DetachAsync(Str(r, "host"), Self, ct).ConfigureAwait(false);
                return null;
            case "volume.create":
                return Info(await Volumes.CreateAsync(Str(r, "name"), r["replica"]?.GetValue<int>() ?? 1, Strs(r, "bricks"), ct).ConfigureAwait(false));
            case "volume.start":
            {
                var v = await Volumes.StartAsync(Str(r, "name"), ct).ConfigureAwait(false);
                WakeReconcile();
                // This host's bricks are up when the command returns; other hosts' daemons start theirs.
                if (!await WaitLocalBricksAsync(v.Name, _o.BrickStartTimeout, ct).ConfigureAwait(false))
                    throw new ManagementError($"volume {v.Name} is started, but its bricks on {Self} did not come up within {_o.BrickStartTimeout.TotalSeconds:0}s (graft volume status {v.Name}; logs in {_bricks.LogDir})");
                return Info(await Volumes.GetAsync(v.Name, ct).ConfigureAwait(false));
            }
            case "volume.stop":
            {
                var v = await Volumes.StopAsync(Str(r, "name"), ct).ConfigureAwait(false);
                WakeReconcile();
                return Info(v);
            }
            case "volume.delete":
                await Volumes.DeleteAsync(Str(r, "name"), ct).ConfigureAwait(false);
                return null;
            case "volume.info":
                return new JsonArray([.. (await SelectAsync(r, ct).ConfigureAwait(false)).Select(v => (JsonNode)Info(v))]);
            case "volume.status":
            {
                var list = new JsonArray();
                foreach (var v in await SelectAsync(r, ct).ConfigureAwait(false)) list.Add(await StatusAsync(v, ct).ConfigureAwait(false));
                return list;
            }
            case "volume.set":
                return Info(await Volumes.SetAsync(Str(r, "name"), Str(r, "key"), Str(r, "value"), ct).ConfigureAwait(false));
            case "volume.reset":
                return Info(await Volumes.ResetAsync(Str(r, "name"), Str(r, "key"), ct).ConfigureAwait(false));
            case "volume.get": return Get(await Volumes.GetAsync(Str(r, "name"), ct).ConfigureAwait(false), Str(r, "key"));
            case "volume.add-brick":
            {
                var v = await Volumes.AddBricksAsync(Str(r, "name"), Strs(r, "bricks"), ct).ConfigureAwait(false);
                WakeReconcile();
                // The new bricks join the layout: the leader runs a fix-layout once they are up.
                if (v.State == VolumeState.Started)
                    await RequestJobAsync(v.Name, "fix-layout", ct).ConfigureAwait(false);
                return Info(v);
            }
            case "volume.remove-brick": return await RemoveBrickAsync(Str(r, "name"), Strs(r, "bricks"), Str(r, "action"), ct).ConfigureAwait(false);
            case "volume.rebalance": return await RebalanceAsync(Str(r, "name"), Str(r, "action"), ct).ConfigureAwait(false);
            case "volume.heal": return await HealRequestAsync(Str(r, "name"), r["action"] is null ? "start" : Str(r, "action"), ct).ConfigureAwait(false);
            default: throw new ManagementError($"unknown request '{op}'");
        }
    }

    private static string Str(JsonObject r, string key) =>
        r[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new ManagementError($"request without '{key}'");

    private static IReadOnlyList<string> Strs(JsonObject r, string key) =>
        r[key] is JsonArray a ? [.. a.Select(x => x?.GetValue<string>() ?? "")] : throw new ManagementError($"request without '{key}'");

    private async Task<IReadOnlyList<Volume>> SelectAsync(JsonObject r, CancellationToken ct) =>
        r["name"] is JsonValue n && n.GetValue<string>() is { Length: > 0 } name
            ? [await Volumes.GetAsync(name, ct).ConfigureAwait(false)]
            : await Volumes.ListAsync(ct).ConfigureAwait(false);

    public static JsonObject Info(Volume v) => new()
    {
        ["name"] = v.Name, ["id"] = v.Id, ["state"] = v.State.ToString().ToLowerInvariant(), ["replica"] = v.Replica,
        ["type"] = v.Replica > 1 ? (v.Bricks.Count > v.Replica ? "distributed-replicate" : "replicate") : v.Bricks.Count > 1 ? "distribute" : "single",
        ["bricks"] = new JsonArray([.. v.Bricks.Select(b => (JsonNode)new JsonObject
        {
            ["host"] = b.Host, ["path"] = b.Path, ["name"] = b.Name, ["id"] = b.Id, ["port"] = b.Port, ["removing"] = v.Removing.Contains(b.Name),
        })]),
        ["options"] = new JsonObject([.. v.Options.Select(o => KeyValuePair.Create(o.Key, (JsonNode?)o.Value))]),
    };

    private async Task<JsonObject> StatusAsync(Volume v, CancellationToken ct)
    {
        var statuses = (await _store.ListAsync($"status/{v.Name}/", ct).ConfigureAwait(false))
            .ToDictionary(e => e.Key[(e.Key.LastIndexOf('/') + 1)..], e => JsonSerializer.Deserialize<BrickStatus>(e.Value, Volume.Json)!);
        long clients = 0;
        foreach (var e in await _store.ListAsync($"clients/{v.Name}/", ct).ConfigureAwait(false))
            if (long.TryParse(e.Value, System.Globalization.CultureInfo.InvariantCulture, out var n)) clients += n;
        var bricks = new JsonArray();
        // A brick's status is its daemon's word: with that daemon gone it is only what the brick was.
        var up = await HostsUpAsync(v.Bricks.Select(b => b.Host), ct).ConfigureAwait(false);
        foreach (var b in v.Bricks)
        {
            var s = v.State == VolumeState.Started ? statuses.GetValueOrDefault(b.Name) : null;
            var daemonUp = up.Contains(b.Host);
            bricks.Add(new JsonObject
            {
                ["host"] = b.Host, ["path"] = b.Path, ["port"] = b.Port, ["pid"] = s?.Pid ?? 0, ["online"] = daemonUp && (s?.Online ?? false),
                ["restarts"] = s?.Restarts ?? 0, ["name"] = b.Name, ["daemon"] = daemonUp ? "up" : "down",
            });
        }
        return new JsonObject { ["name"] = v.Name, ["state"] = v.State.ToString().ToLowerInvariant(), ["bricks"] = bricks, ["clients"] = clients };
    }

    private static JsonArray Get(Volume v, string key)
    {
        IEnumerable<VolumeKey> keys = key == "all" ? VolumeKeys.All
            : [VolumeKeys.Find(key) ?? throw new ManagementError($"unknown key '{key}' (graft volume get {v.Name} all lists them)")];
        return new JsonArray([.. keys.Select(k => (JsonNode)new JsonObject
        {
            ["key"] = k.Name, ["value"] = VolumeKeys.ValueOf(v, k), ["default"] = k.Default ?? "", ["set"] = v.Option(k.Name) is not null,
            ["effect"] = k.Effect switch { KeyEffect.Graph => "new graph (translator added or removed)", KeyEffect.RunTime => "in place (run time)", KeyEffect.NewGraph => "new graph", _ => "daemon" },
            ["description"] = k.Description,
        })]);
    }

    private async Task<JsonObject> ProbeAsync(string address, CancellationToken ct)
    {
        var (host, port) = ManagementClient.ParseAddress(address);
        JsonObject info;
        try
        {
            var c = await ManagementClient.ConnectAsync(host, port, secret: null, TimeSpan.FromSeconds(5), ct, _tls).ConfigureAwait(false);
            await using var cScope = c.ConfigureAwait(false);
            info = (JsonObject)(await c.CallAsync("daemon.info", ct: ct).ConfigureAwait(false))!;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            throw new ManagementError($"no graft daemon answers at {host}:{port}: {e.Message}");
        }
        catch (ManagementError e) { throw new ManagementError($"cannot probe {host}:{port}: {e.Message}"); }
        var theirs = info["clusterId"]?.GetValue<string>();
        if (theirs != ClusterId)
            throw new ManagementError($"{host}:{port} is a daemon of another cluster (its {info["store"]} store, cluster {theirs}); " +
                                      "daemons of one cluster share one store: start it with the same --etcd endpoints");
        var peerHost = info["host"]!.GetValue<string>();
        var peer = new Peer(peerHost, port);
        await Pool.PutAsync(peer, ct).ConfigureAwait(false);
        return new JsonObject { ["host"] = peer.Host, ["port"] = peer.Port };
    }

    private async Task<JsonArray> PeerStatusAsync(CancellationToken ct)
    {
        var list = new JsonArray();
        foreach (var p in await Pool.ListAsync(ct).ConfigureAwait(false))
        {
            bool connected = p.Host == Self;
            if (!connected)
            {
                try
                {
                    var c = await ManagementClient.ConnectAsync(p.Host, p.Port, null, TimeSpan.FromSeconds(2), ct, _tls).ConfigureAwait(false);
                    await using var cScope = c.ConfigureAwait(false);
                    connected = true;
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ManagementError) { }
            }
            list.Add(new JsonObject { ["host"] = p.Host, ["port"] = p.Port, ["self"] = p.Host == Self, ["connected"] = connected });
        }
        return list;
    }

    private async Task RequestJobAsync(string volume, string kind, CancellationToken ct)
    {
        var cur = await _store.GetAsync("rebalance/" + volume, ct).ConfigureAwait(false);
        if (cur is not null && JsonSerializer.Deserialize<RebalanceStatus>(cur.Value, Volume.Json)!.State is "requested" or "running")
            throw new ManagementError($"a {JsonSerializer.Deserialize<RebalanceStatus>(cur.Value, Volume.Json)!.Kind} of {volume} is already running (graft volume rebalance {volume} status)");
        var job = new RebalanceStatus(volume, kind, "requested", null, null, Now);
        StoreCondition c = cur is null ? StoreCondition.Absent("rebalance/" + volume) : StoreCondition.Unchanged(cur);
        if (await _store.CommitAsync([c], [new StoreOp.Put("rebalance/" + volume, JsonSerializer.Serialize(job, Volume.Json))], ct).ConfigureAwait(false) is null)
            throw new ManagementError($"another request for {volume} came first; see graft volume rebalance {volume} status");
    }

    private async Task<JsonNode?> JobStatusAsync(string volume, CancellationToken ct)
    {
        var cur = await _store.GetAsync("rebalance/" + volume, ct).ConfigureAwait(false);
        return cur is null ? new JsonObject { ["volume"] = volume, ["state"] = "not started" } : JsonNode.Parse(cur.Value);
    }

    private async Task<JsonNode?> RebalanceAsync(string name, string action, CancellationToken ct)
    {
        var v = await Volumes.GetAsync(name, ct).ConfigureAwait(false);
        switch (action)
        {
            case "start":
                if (v.State != VolumeState.Started) throw new ManagementError($"volume {name} is not started");
                await RequestJobAsync(name, "rebalance", ct).ConfigureAwait(false);
                return await JobStatusAsync(name, ct).ConfigureAwait(false);
            case "status": return await JobStatusAsync(name, ct).ConfigureAwait(false);
            case "stop":
            {
                var cur = await _store.GetAsync("rebalance/" + name, ct).ConfigureAwait(false);
                var job = cur is null ? null : JsonSerializer.Deserialize<RebalanceStatus>(cur.Value, Volume.Json);
                if (job?.State is not ("requested" or "running")) throw new ManagementError($"no rebalance of {name} is running");
                if (await _store.CommitAsync([StoreCondition.Unchanged(cur!)],
                        [new StoreOp.Put(cur!.Key, JsonSerializer.Serialize(job with { State = job.State == "requested" ? "stopped" : "stopping", UpdatedUnixMs = Now }, Volume.Json))], ct).ConfigureAwait(false) is null)
                    throw new ManagementError($"the rebalance of {name} changed meanwhile; look again (graft volume rebalance {name} status)");
                return await JobStatusAsync(name, ct).ConfigureAwait(false);
            }
            default: throw new ManagementError($"rebalance action must be start, status or stop, not '{action}'");
        }
    }

    private async Task<JsonNode?> RemoveBrickAsync(string name, IReadOnlyList<string> bricks, string action, CancellationToken ct)
    {
        switch (action)
        {
            case "start":
            {
                // The drain is a client of the volume: it needs the bricks served (and a stopped volume's files would be left behind).
                if ((await Volumes.GetAsync(name, ct).ConfigureAwait(false)).State != VolumeState.Started)
                    throw new ManagementError($"volume {name} is not started: start it, so its files can be moved off the bricks being removed");
                await Volumes.StartRemoveAsync(name, bricks, ct).ConfigureAwait(false);
                await RequestJobAsync(name, "remove-brick", ct).ConfigureAwait(false);
                return await JobStatusAsync(name, ct).ConfigureAwait(false);
            }
            case "status": return await JobStatusAsync(name, ct).ConfigureAwait(false);
            case "commit":
            {
                var cur = await _store.GetAsync("rebalance/" + name, ct).ConfigureAwait(false);
                var job = cur is null ? null : JsonSerializer.Deserialize<RebalanceStatus>(cur.Value, Volume.Json);
                if (job is { State: "requested" or "running" or "stopping" })
                    throw new ManagementError($"the bricks of {name} are still being drained (graft volume remove-brick {name} ... status)");
                // Committing takes the bricks out of every client's graph: a file still on them would vanish from the volume.
                if (job is not { Kind: "remove-brick" or "rebalance", State: "completed" })
                    throw new ManagementError($"the bricks of {name} are not drained (last drain: {job?.State ?? "none"}); " +
                                              $"see graft volume remove-brick {name} ... status, then run start again");
                var v = await Volumes.CommitRemoveAsync(name, bricks, ct).ConfigureAwait(false);
                WakeReconcile();
                return Info(v);
            }
            default: throw new ManagementError($"remove-brick action must be start, status or commit, not '{action}'");
        }
    }
}
