using System.Runtime.CompilerServices;
using System.Threading.Channels;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Management.Store.Etcd;

/// <summary>
/// The many-node store: the cluster's state in etcd (v3 API through dotnet-etcd). Every key lives
/// under a prefix (default "/graft/"); a commit is one etcd transaction whose compares are the
/// conditions (a key's mod_revision, or version 0 for "absent"); watches are etcd watches resumed from
/// the last revision seen; leadership is a key created only if absent, attached to a lease that this
/// process keeps alive. Consensus is etcd's: nothing here decides anything on its own.
/// Endpoints are tried in turn: a call that finds its member down moves to the next one.
/// </summary>
public sealed partial class EtcdStore : IClusterStore
{
    private readonly string[] _endpoints;
    private readonly GrpcChannel[] _channels;
    private readonly EtcdClient[] _clients;
    private readonly string _prefix;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _closing = new();
    private int _current;

    /// <summary>Bound on one call to one member before the next member is tried.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Bound on a whole operation, over every member.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(20);
    /// <summary>Time-to-live of a leader's lease: how long a dead leader blocks the next one.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(5);

    public EtcdStore(IReadOnlyList<string> endpoints, string prefix = "/graft/", ILoggerFactory? loggers = null)
    {
        if (endpoints.Count == 0) throw new ArgumentException("no etcd endpoint given");
        _endpoints = [.. endpoints.Select(e => e.Contains("://", StringComparison.Ordinal) ? e : "http://" + e)];
        _channels = [.. _endpoints.Select(e => GrpcChannel.ForAddress(e))];
        _clients = [.. _channels.Select(c => new EtcdClient(c.CreateCallInvoker()))];
        _prefix = prefix.EndsWith('/') ? prefix : prefix + "/";
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Graft.Management.Etcd");
    }

    public string Kind => "etcd";

    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    /// <summary>The end of etcd's range for every key starting with <paramref name="prefix"/>: the prefix with its last byte + 1.</summary>
    private static ByteString RangeEnd(string prefix)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (int i = b.Length - 1; i >= 0; i--)
        {
            if (b[i] < 0xff) { b[i]++; return ByteString.CopyFrom(b, 0, i + 1); }
        }
        return ByteString.CopyFrom(0);
    }

    private static bool Retryable(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown
            or StatusCode.Aborted or StatusCode.ResourceExhausted;

    /// <summary>Runs <paramref name="call"/> against the current member, moving to the next on a transport failure, within <see cref="OperationTimeout"/>.</summary>
    private async Task<T> CallAsync<T>(Func<EtcdClient, DateTime, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        var started = Environment.TickCount64;
        RpcException? last = null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _closing.Token);
        for (int attempt = 0; ; attempt++)
        {
            var i = Volatile.Read(ref _current);
            try
            {
                return await call(_clients[i], DateTime.UtcNow + CallTimeout, linked.Token).ConfigureAwait(false);
            }
            catch (RpcException e) when (Retryable(e) && !linked.IsCancellationRequested)
            {
                last = e;
                Interlocked.CompareExchange(ref _current, (i + 1) % _clients.Length, i);
                LogMemberFailed(_log, _endpoints[i], e.StatusCode);
            }
            if (Environment.TickCount64 - started > OperationTimeout.TotalMilliseconds)
                throw new StoreUnavailableException($"etcd did not answer within {OperationTimeout.TotalSeconds:0}s ({string.Join(", ", _endpoints)}): {last?.Status.Detail}", last);
            // A whole round of failures: the cluster may be electing a leader; wait a little.
            if ((attempt + 1) % _clients.Length == 0) await Task.Delay(200, linked.Token).ConfigureAwait(false);
        }
    }

    public async Task<StoreEntry?> GetAsync(string key, CancellationToken ct = default)
    {
        var r = await CallAsync((c, d, t) => c.GetAsync(new RangeRequest { Key = B(_prefix + key) }, null, d, t), ct).ConfigureAwait(false);
        return r.Kvs.Count == 0 ? null : new StoreEntry(key, r.Kvs[0].Value.ToStringUtf8(), r.Kvs[0].ModRevision);
    }

    public async Task<IReadOnlyList<StoreEntry>> ListAsync(string prefix, CancellationToken ct = default)
    {
        var full = _prefix + prefix;
        var r = await CallAsync((c, d, t) => c.GetAsync(new RangeRequest
        {
            Key = B(full), RangeEnd = RangeEnd(full), SortOrder = RangeRequest.Types.SortOrder.Ascend,
            SortTarget = RangeRequest.Types.SortTarget.Key,
        }, null, d, t), ct).ConfigureAwait(false);
        return [.. r.Kvs.Select(kv => new StoreEntry(kv.Key.ToStringUtf8()[_prefix.Length..], kv.Value.ToStringUtf8(), kv.ModRevision))];
    }

    public async Task<long?> CommitAsync(IReadOnlyList<StoreCondition> conditions, IReadOnlyList<StoreOp> ops, CancellationToken ct = default)
    {
        var txn = new TxnRequest();
        foreach (var c in conditions)
        {
            txn.Compare.Add(c.ModRevision == 0
                ? new Compare { Key = B(_prefix + c.Key), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 }
                : new Compare { Key = B(_prefix + c.Key), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = c.ModRevision });
        }
        foreach (var op in ops)
        {
            txn.Success.Add(op is StoreOp.Put p
                ? new RequestOp { RequestPut = new PutRequest { Key = B(_prefix + p.Key), Value = B(p.Value) } }
                : new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = B(_prefix + op.Key) } });
        }
        var r = await CallAsync((c, d, t) => c.TransactionAsync(txn, null, d, t), ct).ConfigureAwait(false);
        return r.Succeeded ? r.Header.Revision : null;
    }

    public async Task<long> RevisionAsync(CancellationToken ct = default)
    {
        var r = await CallAsync((c, d, t) => c.GetAsync(new RangeRequest { Key = B(_prefix), CountOnly = true }, null, d, t), ct).ConfigureAwait(false);
        return r.Header.Revision;
    }

    public async IAsyncEnumerable<long> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        var changes = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _closing.Token);
        var pump = Task.Run(() => WatchLoopAsync(_prefix + prefix, afterRevision, changes.Writer, linked.Token));
        try
        {
            while (true)
            {
                long rev;
                try
                {
                    if (!await changes.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false)) yield break;
                    rev = await changes.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
                    while (changes.Reader.TryRead(out var more)) rev = Math.Max(rev, more); // fold a burst
                }
                catch (OperationCanceledException) { yield break; }
                yield return rev;
            }
        }
        finally
        {
            await linked.CancelAsync().ConfigureAwait(false);
            try { await pump.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>One etcd watch at a time, on the current member; resumed after the last revision seen when a member fails.</summary>
    private async Task WatchLoopAsync(string key, long after, ChannelWriter<long> changes, CancellationToken ct)
    {
        var seen = after;
        while (!ct.IsCancellationRequested)
        {
            var i = Volatile.Read(ref _current);
            try
            {
                var client = new Watch.WatchClient(_channels[i]);
                using var call = client.Watch(cancellationToken: ct);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = B(key), RangeEnd = RangeEnd(key), StartRevision = seen + 1, ProgressNotify = true },
                }, ct).ConfigureAwait(false);
                while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
                {
                    var r = call.ResponseStream.Current;
                    if (r.CompactRevision > 0)
                    {
                        // History up to there is gone: report one change at the head and go on from there.
                        seen = Math.Max(seen, r.Header.Revision);
                        changes.TryWrite(seen);
                        break;
                    }
                    if (r.Canceled) break;
                    long newest = 0;
                    foreach (var ev in r.Events) newest = Math.Max(newest, ev.Kv.ModRevision);
                    if (newest > seen) { seen = newest; changes.TryWrite(seen); }
                }
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                LogWatchFailed(_log, _endpoints[i], e.StatusCode);
                Interlocked.CompareExchange(ref _current, (i + 1) % _clients.Length, i);
            }
            catch (OperationCanceledException) { break; }
            catch (RpcException) { break; } // cancelled by our own token
            try { await Task.Delay(100, ct).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
        }
        changes.TryComplete();
    }

#pragma warning disable VSTHRD002 // IDisposable for callers that cannot await; DisposeAsync needs no caller's thread
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        foreach (var c in _channels) c.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "etcd member {Endpoint} failed ({Status}); trying the next one")]
    private static partial void LogMemberFailed(ILogger log, string endpoint, StatusCode status);

    [LoggerMessage(Level = LogLevel.Information, Message = "etcd watch on {Endpoint} ended ({Status}); resuming on the next member")]
    private static partial void LogWatchFailed(ILogger log, string endpoint, StatusCode status);
}
