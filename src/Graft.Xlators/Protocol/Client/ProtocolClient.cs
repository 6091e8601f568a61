using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Client;

/// <summary>
/// protocol/client: the leaf of a client graph that sends every fop to one brick over TCP.
/// It connects on PARENT_UP, answers CHILD_UP once handshaken, reconnects with backoff after a
/// loss (CHILD_DOWN, then CHILD_UP again once every open fd is reopened), and on PARENT_DOWN
/// stops reconnecting, lets in-flight calls finish or fail, says goodbye and only then answers
/// PARENT_DOWN_HANDLED.
/// </summary>
public sealed partial class ProtocolClient : Translator, INoticeSource
{
    public static readonly XlatorSpec Spec = new("protocol/client", () => new ProtocolClient(),
    [
        new("remote-host", OptionKind.String, "127.0.0.1", "host name or address of the brick's server"),
        new("remote-port", OptionKind.Int, null, "TCP port of the brick's server") { Min = 1, Max = 65535, Required = true },
        new("remote-subvolume", OptionKind.String, null, "name of the brick (the volume under the server's protocol/server)") { Required = true },
        new("frame-timeout", OptionKind.Time, "120", "a call with no reply after this long fails with ENOTCONN") { Min = 10 },
        new("ping-timeout", OptionKind.Time, "42", "a brick that answers nothing (not even a ping) for this long is disconnected; 0 disables") { Min = 0 },
        new("connect-timeout", OptionKind.Time, "10", "bound on one connect plus handshake") { Min = 10 },
        new("secret-file", OptionKind.Path, null, "file holding the shared secret the brick requires (proved by HMAC, never sent)") { Aliases = ["auth-secret-file"] },
        new("reconnect-min-backoff", OptionKind.Time, "100ms", "first wait before reconnecting; doubles on each failure") { Min = 1 },
        new("reconnect-max-backoff", OptionKind.Time, "5s", "longest wait between reconnect attempts") { Min = 1 },
        new("mount-identity", OptionKind.String, null,
            "the mount identity (a GUID) this client presents to the brick, which owns locks per mount; unset: the graph's (its mount session's). Lets one process act as several mounts"),
        new("tls-cert", OptionKind.Path, null, "PEM client certificate (with tls-key and tls-ca: speak TLS 1.3 to the brick)"),
        new("tls-key", OptionKind.Path, null, "PEM private key of tls-cert"),
        new("tls-ca", OptionKind.Path, null, "PEM CA certificate(s) the brick's certificate must be signed by"),
        new("upcall", OptionKind.Bool, "on",
            "ask the brick for invalidation notices (features/upcall): what another client changes of what this one looked at is dropped from the caches above and the kernel's"),
        new("lock-xattrop", OptionKind.Bool, "on",
            "send a transaction's lock and its counters' add as one request (inodelk-xattrop) when the brick grants it; off: two requests, as to a brick that does not"),
        new("lock-create-release", OptionKind.Bool, "on",
            "when the brick grants it, a create may carry the new file's lock and counters' add (create-inodelk-xattrop), and a release the post-op and unlock of the transaction it ends (release-inodelk-xattrop): one request each instead of two; off: separate requests, as to a brick that does not"),
        new("tls-server-name", OptionKind.String, null, "name the brick's certificate must be issued for; unset: remote-host"),
        new("read-hand-off", OptionKind.Size, "512KB",
            "a read of at least this many bytes whose caller may go on on the receive thread goes on on the thread pool once its data has arrived: the caller's next step is copying it out (a FUSE reply: into the kernel's page cache), and meanwhile the receive thread reads the next read's replies; 0: never") { Min = 0 },
        new("receive-thread", OptionKind.Bool, "on",
            "receive the brick's replies on a thread of this connection's own (plaintext), blocked in the socket until they arrive, and complete the calls there (one thread wake per burst of replies); off: the .NET socket engine receives and hands each burst to the thread pool (two wakes, but no thread per connection)"),
    ], "sends fops to a brick over TCP")
    { MinChildren = 0, MaxChildren = 0 };

    /// <summary>The process's mount identity (<see cref="Graph.ProcessMountId"/>): what a client of a graph without one presents.</summary>
    public static Guid MountIdentity => Graph.ProcessMountId;

    /// <summary>The mount identity this instance presents: the <c>mount-identity</c> option, else its graph's <see cref="Graph.MountId"/> at init.</summary>
    public Guid Identity { get; private set; }

    /// <summary>This instance (with the identity and the graph generation, the brick's key for its session).</summary>
    public Guid Instance => _instance;

    private readonly PendingCallPool _calls = new();
    private readonly Guid _instance = Guid.NewGuid();
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private string _host = "", _brick = "";
    private int _port;
    private long _frameTimeoutMs, _pingTimeoutMs, _connectTimeoutMs, _minBackoffMs, _maxBackoffMs;
    private byte[]? _secret;
    private Transport.TlsConfig? _tls;
    private bool _receiveThread;
    private long _readHandOff;
    private string _serverName = "";

    /// <summary>The live, handshaken connection, or null. Published only after every open fd was reopened on it.</summary>
    private volatile ClientConnection? _conn;

    public bool IsConnected => _conn is { IsDead: false };

    Guid INoticeSource.Mount => Identity;

    /// <inheritdoc/>
    public long NoticeRun => _conn is { IsDead: false, UpcallsGranted: true } c ? c.Epoch : 0;
    /// <summary>Why the last connect attempt failed (ECONNREFUSED, EACCES for a refused handshake, ...), OK after success.</summary>
    public Errno LastConnectError { get; private set; } = Errno.ENOTCONN;
    /// <summary>The last connect attempt's failure in words (the brick's reason for a refusal, a TLS problem), or null.</summary>
    public string? LastConnectMessage { get; private set; }
    public int Connects => Volatile.Read(ref _connects);
    /// <summary>Reconnects that found the brick had lost this client's session (CHILD_RESET sent).</summary>
    public int Resets => Volatile.Read(ref _resets);
    public int OpenFdCount { get { lock (_openFds) return _openFds.Count; } }
    public int InFlight => _conn?.PendingCount ?? 0;
    private int _connects, _resets;
    /// <summary>Ask the brick for invalidation notices at each handshake (option <c>upcall</c>).</summary>
    private bool _upcall;
    /// <summary>Ask the brick for inodelk-xattrop at each handshake (option <c>lock-xattrop</c>).</summary>
    private bool _lockXattrop;
    /// <summary>Ask the brick for create-inodelk-xattrop and release-inodelk-xattrop at each handshake (option <c>lock-create-release</c>).</summary>
    private bool _lockCreateRelease;

    public override ValueTask InitAsync(CancellationToken ct)
    {
        _host = Options.GetString("remote-host");
        _port = Options.GetInt("remote-port");
        _brick = Options.GetString("remote-subvolume");
        _frameTimeoutMs = Options.GetLong("frame-timeout");
        _upcall = Options.GetBool("upcall");
        _lockXattrop = Options.GetBool("lock-xattrop");
        _lockCreateRelease = Options.GetBool("lock-create-release");
        _receiveThread = Options.GetBool("receive-thread");
        _readHandOff = Options.GetLong("read-hand-off");
        _pingTimeoutMs = Options.GetLong("ping-timeout");
        _connectTimeoutMs = Options.GetLong("connect-timeout");
        _minBackoffMs = Options.GetLong("reconnect-min-backoff");
        _maxBackoffMs = Math.Max(_minBackoffMs, Options.GetLong("reconnect-max-backoff"));
        if (Options.GetStringOrNull("secret-file") is { } path) _secret = Wire.Handshake.LoadSecret(path);
        var cert = Options.GetStringOrNull("tls-cert");
        var key = Options.GetStringOrNull("tls-key");
        var ca = Options.GetStringOrNull("tls-ca");
        if (cert is not null || key is not null || ca is not null) _tls = Transport.TlsConfig.Load(ToString(), cert, key, ca);
        _serverName = Options.GetStringOrNull("tls-server-name") ?? _host;
        Identity = Options.GetStringOrNull("mount-identity") is { } id
            ? Guid.TryParse(id, out var parsed) && parsed != Guid.Empty ? parsed : throw new ArgumentException($"{this}: mount-identity '{id}' is not a GUID")
            : Graph?.MountId ?? MountIdentity;
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Protocol.Client");
        return ValueTask.CompletedTask;
    }

    public override void Notify(GraphEvent ev, Translator? from)
    {
        if (ev == GraphEvent.ParentUp) StartConnecting();
        else base.Notify(ev, from);
    }

    public override async ValueTask FiniAsync()
    {
        await StopAsync(TimeSpan.FromMilliseconds(_frameTimeoutMs)).ConfigureAwait(false);
    }

    /// <summary>PARENT_DOWN: finish or fail what is in flight, close cleanly, then let the base answer PARENT_DOWN_HANDLED.</summary>
    protected override ValueTask DrainAsync() => new(StopAsync(TimeSpan.FromMilliseconds(_frameTimeoutMs)));

    private void Log(string message) => _log.Event(Name, _host, _port, _brick, message);
}
