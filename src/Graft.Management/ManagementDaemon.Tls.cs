using Graft.Management.Store;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Management;

// TLS is the cluster's, not one daemon's: the volfile a mount gets from any daemon names tls files for
// every brick, so every host's bricks must speak TLS or none. The store keeps the mode ("cluster/tls":
// on or off), fixed by the first daemon that starts; a daemon started in the other mode refuses to
// start and says which, unless it is the pool's only host — then it switches the cluster (its bricks
// are restarted with the new settings).
public sealed partial class ManagementDaemon
{
    private const string TlsModeKey = "cluster/tls";

    private async Task CheckTlsModeAsync(CancellationToken ct)
    {
        var mine = _o.Tls is null ? "off" : "on";
        await _store.CommitAsync([StoreCondition.Absent(TlsModeKey)], [new StoreOp.Put(TlsModeKey, mine)], ct).ConfigureAwait(false);
        var cur = await _store.GetAsync(TlsModeKey, ct).ConfigureAwait(false);
        if (cur is null || cur.Value == mine) return;
        var others = (await Pool.ListAsync(ct).ConfigureAwait(false)).Where(p => p.Host != Self).Select(p => p.Host).ToList();
        if (others.Count > 0)
            throw new ManagementError(mine == "on"
                ? $"this cluster runs without TLS (its daemons on {string.Join(", ", others)} too): start this daemon without --tls, --tls-cert, --tls-key and --tls-ca, or every daemon with them"
                : $"this cluster uses TLS (its daemons on {string.Join(", ", others)} too): start this daemon with --tls-cert, --tls-key and --tls-ca (or --tls for {Protocol.TlsFiles.DefaultDir})");
        if (await _store.CommitAsync([StoreCondition.Unchanged(cur)], [new StoreOp.Put(TlsModeKey, mine)], ct).ConfigureAwait(false) is null)
            throw new ManagementError("the cluster's TLS mode changed while this daemon started; start it again");
        LogTlsModeChanged(_log, mine);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "the cluster's TLS is now {Mode} (the only host of the pool decides); bricks restart with it")]
    private static partial void LogTlsModeChanged(ILogger log, string mode);
}
