using Graft.Management.Store;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// Whether a host's daemon is alive, for `volume status`: a brick's status in the store is written by
// its host's daemon, so once that daemon is gone the entry only says how the brick was. Each daemon
// holds the store's leadership of its own election "daemon-HOST" (it is the only candidate) for as long
// as it runs. The store's election is the liveness signal both stores already keep honest: with etcd the
// key is bound to a lease (5 s TTL) that vanishes with a dead daemon, without comparing anyone's clock;
// with SQLite the one daemon holds it in-process. A brick whose daemon holds no presence is shown with
// online false and daemon "down".
public sealed partial class ManagementDaemon
{
    /// <summary>The election whose leader is <paramref name="host"/>'s daemon while it runs.</summary>
    public static string PresenceElection(string host) => "daemon-" + host;

    private async Task PresenceLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var presence = await _store.LeadAsync(PresenceElection(Self), Self, ct).ConfigureAwait(false);
                await using var presenceScope = presence.ConfigureAwait(false);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, presence.Lost);
                await Task.Delay(Timeout.Infinite, both.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (OperationCanceledException) { LogPresenceLost(_log, Self); }
            catch (StoreUnavailableException e) { LogPresenceFailed(_log, e.Message); }
            try { await Task.Delay(500, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Which of <paramref name="hosts"/> have a running daemon (one store read per host).</summary>
    private async Task<HashSet<string>> HostsUpAsync(IEnumerable<string> hosts, CancellationToken ct)
    {
        var up = new HashSet<string>(StringComparer.Ordinal);
        foreach (var h in hosts.Distinct(StringComparer.Ordinal))
            if (h == Self || await _store.LeaderAsync(PresenceElection(h), ct).ConfigureAwait(false) is not null) up.Add(h);
        return up;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "presence of {Host} in the store was lost; taking it again")]
    private static partial void LogPresenceLost(ILogger log, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot hold this daemon's presence in the store: {Problem}; trying again")]
    private static partial void LogPresenceFailed(ILogger log, string problem);
}
