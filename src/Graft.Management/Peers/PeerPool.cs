using System.Net;
using Graft.Management.Store;
using Graft.Management.Volumes;

namespace Graft.Management.Peers;

/// <summary>
/// The trusted pool: the hosts whose bricks volumes may use (key "peers/HOST"). A daemon's own host
/// joins it when the daemon creates the cluster; any other host joins by `peer probe`, which checks
/// that a daemon answers there and shares this cluster's store (same cluster id).
/// </summary>
public sealed class PeerPool(IClusterStore store)
{
    public static string Key(string host) => "peers/" + host;

    public async Task<IReadOnlyList<Peer>> ListAsync(CancellationToken ct = default) =>
        [.. (await store.ListAsync("peers/", ct).ConfigureAwait(false)).Select(e => System.Text.Json.JsonSerializer.Deserialize<Peer>(e.Value, Volume.Json)!)];

    public async Task<IReadOnlyCollection<string>> HostsAsync(CancellationToken ct = default) =>
        [.. (await ListAsync(ct).ConfigureAwait(false)).Select(p => p.Host)];

    public static string ToJson(Peer p) => System.Text.Json.JsonSerializer.Serialize(p, Volume.Json);

    /// <summary>Adds or updates a peer (its daemon's port may change across restarts).</summary>
    public async Task PutAsync(Peer p, CancellationToken ct = default) =>
        await store.CommitAsync([], [new StoreOp.Put(Key(p.Host), ToJson(p))], ct).ConfigureAwait(false);

    public async Task DetachAsync(string host, string self, CancellationToken ct = default)
    {
        if (host == self) throw new ManagementError($"{host} is this daemon's own host; detach it from another peer");
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var peer = await store.GetAsync(Key(host), ct).ConfigureAwait(false) ?? throw new ManagementError($"{host} is not a peer");
            var volumes = await store.ListAsync("volumes/", ct).ConfigureAwait(false);
            foreach (var e in volumes)
            {
                var v = Volume.FromJson(e.Value);
                if (v.Bricks.FirstOrDefault(b => b.Host == host) is { } b)
                    throw new ManagementError($"{host} has brick {b.Spec} of volume {v.Name}; remove it first");
            }
            if (await store.CommitAsync([StoreCondition.Unchanged(peer), .. volumes.Select(StoreCondition.Unchanged)],
                    [new StoreOp.Delete(Key(host))], ct).ConfigureAwait(false) is not null) return;
        }
        throw new ManagementError("the pool kept changing; try again");
    }

    /// <summary>Whether <paramref name="remote"/> may fetch a volfile of a volume whose auth.allow is <paramref name="allow"/>.</summary>
    public static bool Allowed(IPAddress remote, string allow, IEnumerable<string> peerHosts)
    {
        if (string.IsNullOrWhiteSpace(allow))
        {
            if (IPAddress.IsLoopback(remote)) return true;
            foreach (var h in peerHosts)
            {
                if (IPAddress.TryParse(h, out var a) && a.Equals(remote)) return true;
                try { if (Dns.GetHostAddresses(h).Any(x => x.Equals(remote))) return true; }
                catch (System.Net.Sockets.SocketException) { }
            }
            return false;
        }
        foreach (var item in allow.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (item == "*") return true;
            if (IPNetwork.TryParse(item, out var net) && net.Contains(remote)) return true;
            if (IPAddress.TryParse(item, out var ip) && ip.Equals(remote)) return true;
        }
        return false;
    }
}
