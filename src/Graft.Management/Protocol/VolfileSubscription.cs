using System.Text.Json.Nodes;
using Graft.Management.Volumes;
using Graft.Mount.Switching;
using Graft.Xlators.Protocol.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Management.Protocol;

/// <summary>
/// A mount's subscription to a volume's client volfile (`graft mount HOST[:PORT]:/VOLUME`): fetched
/// from the first daemon that answers, then every push applied through the mount's
/// <see cref="VolfileFollower"/>. When the daemon goes away (the connection ends, or no ping for
/// <see cref="Silence"/>), it subscribes again — to the next server of the list (the backup volfile
/// servers), round and round with a growing wait — and a volfile that changed meanwhile is applied.
/// The cluster secret that comes with the first volfile is kept in <see cref="SecretFile"/> (0600,
/// the mount daemon's own); the volfile only names that file. With <see cref="TlsFiles"/> every
/// connection to a daemon is TLS with the mount's certificate, and the volfile names the same files for
/// the bricks.
/// </summary>
public sealed partial class VolfileSubscription : IVolfileSource
{
    private readonly IReadOnlyList<(string Host, int Port)> _servers;
    private readonly string _volume;
    private readonly (TlsFiles Files, TlsConfig Config)? _tls;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private ManagementClient _client;
    private int _serverIndex;
    private string _lastText;
    private long _revision;
    private Task? _loop;

    /// <summary>With no frame (volfile or ping) for this long the daemon is taken as gone.</summary>
    public TimeSpan Silence { get; init; } = TimeSpan.FromSeconds(8);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    public string SecretFile { get; }
    public string InitialText { get; }

    private VolfileSubscription(IReadOnlyList<(string, int)> servers, string volume, string secretFile, (TlsFiles, TlsConfig)? tls,
                                ManagementClient client, int index, string text, long revision, ILogger log)
    {
        _servers = servers;
        _volume = volume;
        _tls = tls;
        SecretFile = secretFile;
        _client = client;
        _serverIndex = index;
        _lastText = InitialText = text;
        _revision = revision;
        _log = log;
    }

    public string Name => $"{_servers[0].Host}:{_servers[0].Port}:/{_volume}";

    public VolfileSourceInfo Info
    {
        get
        {
            var (h, p) = _servers[Volatile.Read(ref _serverIndex)];
            return new VolfileSourceInfo("daemon", $"{h}:{p}:/{_volume}", Interlocked.Read(ref _revision));
        }
    }

    /// <summary>Subscribes to the first server that serves the volume; throws <see cref="ManagementError"/> (or IOException) with every server's answer when none does.</summary>
    /// <param name="tls">The mount's TLS files (for daemons with TLS), or null; bad files throw <see cref="ManagementError"/> at once.</param>
    public static async Task<VolfileSubscription> OpenAsync(IReadOnlyList<(string Host, int Port)> servers, string volume, string secretFile,
                                                             ILoggerFactory? loggers = null, CancellationToken ct = default, TlsFiles? tls = null)
    {
        var log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Graft.Mount.Volfile");
        (TlsFiles, TlsConfig)? withTls = tls is null ? null : (tls, tls.Load("the mount's certificate"));
        var problems = new List<string>();
        for (int i = 0; i < servers.Count; i++)
        {
            try
            {
                var (client, result) = await SubscribeAsync(servers[i], volume, secretFile, withTls, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
                var text = Text(result);
                return new VolfileSubscription(servers, volume, secretFile, withTls, client, i, text, result["revision"]?.GetValue<long>() ?? 0, log);
            }
            catch (Exception e) when (e is IOException or ManagementError or System.Net.Sockets.SocketException or InvalidDataException)
            {
                problems.Add($"{servers[i].Host}:{servers[i].Port}: {e.Message}");
            }
        }
        throw new ManagementError($"cannot fetch the volfile of {volume}: " + string.Join("; ", problems));
    }

    private static string Text(JsonObject m) => m["volfile"]?.GetValue<string>() ?? throw new InvalidDataException("a volfile message without a volfile");

    private static async Task<(ManagementClient, JsonObject)> SubscribeAsync((string Host, int Port) server, string volume, string secretFile,
                                                                            (TlsFiles Files, TlsConfig Config)? tls, TimeSpan timeout, CancellationToken ct)
    {
        var client = await ManagementClient.ConnectAsync(server.Host, server.Port, secret: null, timeout, ct, tls?.Config).ConfigureAwait(false);
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(timeout + TimeSpan.FromSeconds(30)); // the daemon may wait for brick ports of a just-started volume
            var request = new JsonObject { ["volume"] = volume, ["secretFile"] = secretFile };
            if (tls is { Files: var f }) request["tls"] = new JsonObject { ["cert"] = f.Cert, ["key"] = f.Key, ["ca"] = f.Ca };
            var result = await client.SubscribeAsync(request, bound.Token).ConfigureAwait(false);
            if (result["secret"]?.GetValue<string>() is { Length: > 0 } secret) PrivateFile.Write(secretFile, secret + "\n");
            return (client, result);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void Start(Func<string, Task> onChange) => _loop ??= Task.Run(() => LoopAsync(onChange));

    /// <summary>SIGHUP: drop the connection; the loop subscribes again and applies what the daemon has now.</summary>
    public void Poke() => _ = _client.DisposeAsync();

    private async Task LoopAsync(Func<string, Task> onChange)
    {
        var ct = _stop.Token;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                while (true)
                {
                    using var silence = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    silence.CancelAfter(Silence);
                    var m = await _client.ReadPushAsync(silence.Token).ConfigureAwait(false);
                    if (m is null) break;
                    backoff = TimeSpan.FromMilliseconds(100);
                    if (m["push"]?.GetValue<string>() == "volfile") await DeliverAsync(m, onChange).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException or ObjectDisposedException or System.Net.Sockets.SocketException) { }
            await _client.DisposeAsync().ConfigureAwait(false);
            LogLost(_log, Info.Source);
            // Subscribe again: the next server first (the one that went away is likely still down).
            while (!ct.IsCancellationRequested)
            {
                var next = (Volatile.Read(ref _serverIndex) + 1) % _servers.Count;
                try
                {
                    var (client, result) = await SubscribeAsync(_servers[next], _volume, SecretFile, _tls, ConnectTimeout, ct).ConfigureAwait(false);
                    _client = client;
                    Volatile.Write(ref _serverIndex, next);
                    LogResubscribed(_log, Info.Source);
                    await DeliverAsync(result, onChange).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (e is IOException or ManagementError or System.Net.Sockets.SocketException or InvalidDataException
                                              or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    Volatile.Write(ref _serverIndex, next);
                    try { await Task.Delay(backoff, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                }
            }
        }
    }

    private async Task DeliverAsync(JsonObject m, Func<string, Task> onChange)
    {
        var text = Text(m);
        Interlocked.Exchange(ref _revision, m["revision"]?.GetValue<long>() ?? 0);
        if (text == _lastText) return;
        _lastText = text;
        try { await onChange(text).ConfigureAwait(false); }
        catch (Exception e) when (e is not OutOfMemoryException) { LogApplyFailed(_log, e, _volume); }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _ = _client.DisposeAsync();
#pragma warning disable VSTHRD002 // a bounded wait for the loop in a synchronous Dispose
        try { _loop?.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
#pragma warning restore VSTHRD002
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "volfile server {Source} went away; subscribing again (backup servers in turn)")]
    private static partial void LogLost(ILogger log, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "volfile subscription moved to {Source}")]
    private static partial void LogResubscribed(ILogger log, string source);

    [LoggerMessage(Level = LogLevel.Error, Message = "applying a volfile of {Volume} failed")]
    private static partial void LogApplyFailed(ILogger log, Exception e, string volume);
}
