using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Management.Store.Etcd;

// Leader election: the leader is whoever created "leaders/ELECTION" — created only if absent, in a
// transaction, bound to a lease this process keeps alive. A leader that dies stops renewing; etcd
// deletes the key when the lease expires, and the next candidate's create succeeds.
public sealed partial class EtcdStore
{
    public async Task<ILeadership> LeadAsync(string election, string candidate, CancellationToken ct)
    {
        var key = B(_prefix + "leaders/" + election);
        var ttl = (long)Math.Max(2, LeaseTtl.TotalSeconds);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var lease = await CallAsync((c, d, t) => c.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttl }, null, d, t), ct).ConfigureAwait(false);
            var txn = new TxnRequest();
            txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 });
            txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = B(candidate), Lease = lease.ID } });
            var r = await CallAsync((c, d, t) => c.TransactionAsync(txn, null, d, t), ct).ConfigureAwait(false);
            if (r.Succeeded) return new Leadership(this, lease.ID, LeaseTtl);
            try { await CallAsync((c, d, t) => c.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease.ID }, null, d, t), ct).ConfigureAwait(false); }
            catch (StoreUnavailableException) { } // it expires by itself
            // Someone leads: look again shortly (a dead leader's key goes when its lease expires).
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
        }
    }

    public async Task<string?> LeaderAsync(string election, CancellationToken ct = default) =>
        (await GetAsync("leaders/" + election, ct).ConfigureAwait(false))?.Value;

    private sealed class Leadership : ILeadership
    {
        private readonly EtcdStore _store;
        private readonly long _lease;
        private readonly CancellationTokenSource _lost = new();
        private readonly Task _keepAlive;

        public Leadership(EtcdStore store, long lease, TimeSpan ttl)
        {
            _store = store;
            _lease = lease;
            _keepAlive = Task.Run(() => KeepAliveAsync(ttl));
        }

        public CancellationToken Lost => _lost.Token;

        /// <summary>Renews the lease every third of its TTL; the leadership is lost once renewals failed for a whole TTL or etcd says the lease is gone.</summary>
        private async Task KeepAliveAsync(TimeSpan ttl)
        {
            var lastRenewed = Environment.TickCount64;
            var period = ttl / 3;
            while (!_lost.IsCancellationRequested)
            {
                try { await Task.Delay(period, _lost.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                var i = Volatile.Read(ref _store._current);
                try
                {
                    using var call = new Lease.LeaseClient(_store._channels[i]).LeaseKeepAlive(deadline: DateTime.UtcNow + _store.CallTimeout, cancellationToken: _lost.Token);
                    await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = _lease }).ConfigureAwait(false);
                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    if (await call.ResponseStream.MoveNext(_lost.Token).ConfigureAwait(false))
                    {
                        if (call.ResponseStream.Current.TTL <= 0) { LogLeaseGone(_store._log, _lease); await _lost.CancelAsync().ConfigureAwait(false); return; }
                        lastRenewed = Environment.TickCount64;
                    }
                }
                catch (RpcException e) when (!_lost.IsCancellationRequested)
                {
                    LogRenewFailed(_store._log, _store._endpoints[i], e.StatusCode);
                    Interlocked.CompareExchange(ref _store._current, (i + 1) % _store._clients.Length, i);
                }
                catch (OperationCanceledException) { return; }
                if (Environment.TickCount64 - lastRenewed > ttl.TotalMilliseconds)
                {
                    LogLeaseGone(_store._log, _lease);
                    await _lost.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_lost.IsCancellationRequested) await _lost.CancelAsync().ConfigureAwait(false);
            try { await _keepAlive.ConfigureAwait(false); } catch (OperationCanceledException) { }
            try
            {
                await _store.CallAsync((c, d, t) => c.LeaseRevokeAsync(new LeaseRevokeRequest { ID = _lease }, null, d, t), CancellationToken.None).ConfigureAwait(false);
            }
            catch (StoreUnavailableException) { } // the lease expires by itself
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "renewing the leader lease on {Endpoint} failed ({Status})")]
    private static partial void LogRenewFailed(ILogger log, string endpoint, StatusCode status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "leader lease {Lease} is gone; giving up leadership")]
    private static partial void LogLeaseGone(ILogger log, long lease);
}
