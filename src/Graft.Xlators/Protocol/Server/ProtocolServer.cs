using System.Net;
using System.Net.Sockets;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// protocol/server: the top of a brick graph. Listens on TCP (optionally TLS), authenticates clients (address
/// allow-list, optional shared secret, client certificates), and serves fops from many clients at once to its one
/// child, whose volume name is the brick name clients ask for (remote-subvolume). Keeps a
/// per-client fd table and releases a client's fds when it goes away.
/// </summary>
/// <remarks>
/// Trust (docs/security.md): a session that proved the secret or presented a certificate our CA
/// signed is trusted, and its callers' ids are used as sent. Any other session is untrusted: with
/// root-squash (the default) its uid/gid 0 become 65534 and it gets no trusted.*/security.* xattrs.
/// </remarks>
public sealed partial class ProtocolServer : Translator
{
    public static readonly XlatorSpec Spec = new("protocol/server", () => new ProtocolServer(),
    [
        new("listen-address", OptionKind.String, "127.0.0.1", "address to listen on (loopback unless told otherwise)") { Aliases = ["transport.socket.bind-address", "bind-address"] },
        new("listen-port", OptionKind.Int, "0", "TCP port; 0 picks a free one") { Min = 0, Max = 65535, Aliases = ["transport.socket.listen-port"] },
        new("auth-allow", OptionKind.String, "*", "comma-separated addresses/CIDRs allowed to connect, or *") { Aliases = ["auth.addr.allow"] },
        new("secret-file", OptionKind.Path, null, "file holding the shared secret clients must prove (HMAC challenge)") { Aliases = ["auth-secret-file"] },
        new("grace-timeout", OptionKind.Time, "10", "how long a client that vanished without goodbye keeps its fds, waiting for it to reconnect") { Min = 0 },
        new("handshake-timeout", OptionKind.Time, "10", "bound on a new connection's handshake") { Min = 10 },
        new("root-squash", OptionKind.Bool, "on", "sessions that proved neither the secret nor a client certificate act as 65534 where they claim uid/gid 0, and get no trusted.*/security.* xattrs; off trusts every session's ids") { Aliases = ["server.root-squash"] },
        new("allow-insecure", OptionKind.Bool, "off", "allow listening on a non-loopback address with neither secret-file nor TLS (anyone who reaches the port can then act as any non-root user)"),
        new("tls-cert", OptionKind.Path, null, "PEM certificate (and intermediates) the brick presents: with tls-key and tls-ca, clients must speak TLS 1.3"),
        new("tls-key", OptionKind.Path, null, "PEM private key of tls-cert"),
        new("tls-ca", OptionKind.Path, null, "PEM CA certificate(s): clients must present a certificate signed by one"),
        new("max-connections", OptionKind.Int, "1024", "connections served at once; more are refused at accept (EAGAIN)") { Min = 1, Max = 1 << 20 },
        new("max-connections-per-address", OptionKind.Int, "64", "connections from one client address at once; more are refused at accept (EAGAIN)") { Min = 1, Max = 1 << 20 },
        new("accept-max-backoff", OptionKind.Time, "1s", "longest pause of the accept loop while the process is out of file descriptors (EMFILE/ENFILE)") { Min = 10 },
        new("accept-fd-reserve", OptionKind.Int, "16", "file descriptors the accept loop holds back for the rest of the process: it accepts only while these and two more are free, and hands them back while the process is short (0: no reserve)") { Min = 0, Max = 4096 },
        // Limits on what one client may hold here (ProtocolServer.Limits.cs, docs/wire-protocol.md).
        new("max-requests-in-service", OptionKind.Int, "1024", "requests one connection may have in service at once (blocking lock waits are not counted); more wait in its backlog") { Min = 1, Max = 1 << 20 },
        new("max-request-backlog", OptionKind.Size, "16MB", "memory of requests read from one connection but not yet in service; past it the connection is not read until there is room again (pings, cancels and goodbyes are answered until then)") { Min = 64 << 10, Max = 1L << 32 },
        new("max-lock-waits-per-session", OptionKind.Int, "4096", "blocking lock requests (F_SETLKW, blocking inodelk/entrylk) one client session may have waiting; one more gets ENOLCK") { Min = 1, Max = 1 << 24 },
        new("io-threads", OptionKind.Int, "0", "threads of the brick's own that serve fops, at most that many at once (storage syscalls block their thread: a slow fop holds one and the others go on); 0 serves fops on the .NET thread pool, which costs less CPU per request but lets many blocked fops slow every connection until it adds threads") { Min = 0, Max = 1024, Aliases = ["performance.io-thread-count"] },
        new("receive-threads", OptionKind.Bool, "on", "each plaintext connection receives on a thread of its own, blocked in the socket until bytes arrive, and runs its receive loop there (one thread wake per burst of requests); off: the .NET socket engine receives and hands each burst to the thread pool (two wakes, but no thread per connection)"),
        new("inline-fops", OptionKind.Bool, "on", "with io-threads 0, a cheap fop (lookup, stat, open, create, unlink, small reads and writes, a lock that does not wait...) that arrives with nothing behind it is served on its connection's receive thread, with no hand-off; fsync, blocking locks, directory reads, truncates and big I/O always go to the thread pool, so they never hold up the connection. off: every fop goes to the pool"),
        new("read-splice", OptionKind.Size, "64KB", "on a plaintext connection, a read of at least this many bytes (not O_DIRECT) is sent from the file's page cache to the socket with splice(2): no copy out of the page cache and none into the socket; TLS connections and smaller reads copy as before. 0: never") { Min = 0, Max = 1L << 30, Runtime = true },
        new("write-splice", OptionKind.Size, "64KB", "on a plaintext connection, the data of a write of at least this many bytes goes from the socket into a pipe and from there into the file with splice(2): not copied into the brick's memory first; TLS connections, smaller writes and graphs with translators that may look at a write's bytes copy as before. 0: never") { Min = 0, Max = Wire.FrameHeader.MaxIo, Runtime = true },
        new("max-open-fds-per-session", OptionKind.Int, "16384", "files and directories one client session may have open; one more open, create or opendir gets EMFILE") { Min = 1, Max = 1 << 24 },
    ], "serves its child to clients over TCP");

    private readonly Dictionary<string, ClientSession> _sessions = new(StringComparer.Ordinal);   // guarded by itself
    private readonly HashSet<ServerConnection> _connections = [];   // guarded by _sessions
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private List<IPNetwork>? _allow;   // null: everyone
    internal byte[]? Secret { get; private set; }
    internal TimeSpan GraceTimeout { get; private set; }
    internal TimeSpan HandshakeTimeout { get; private set; }
    /// <summary>Untrusted sessions are root-squashed and kept from privileged xattrs (option root-squash).</summary>
    internal bool RootSquash { get; private set; }
    /// <summary>Reads from this size on are spliced from the page cache to plaintext sockets (option read-splice); 0: never.</summary>
    internal long ReadSplice { get => Volatile.Read(ref _readSplice); private set => Volatile.Write(ref _readSplice, value); }
    private long _readSplice;
    /// <summary>The pipes reads are spliced through (read-splice), shared by every connection; closed at shutdown.</summary>
    internal SplicePipes Pipes { get; } = new();
    /// <summary>write-splice's threshold and pipes (the same ones reads use), handed to each plaintext connection.</summary>
    internal WriteSplicing WriteSplice { get; }

    public ProtocolServer() => WriteSplice = new WriteSplicing(Pipes);
    /// <summary>Tests only: handed to each new connection's <see cref="FrameConnection.FailSplice"/> (a failure after a spliced frame's header).</summary>
    internal Func<bool>? FailSplice { get; set; }
    /// <summary>Clients must speak TLS and present a certificate this CA signed; null: plaintext.</summary>
    internal TlsConfig? Tls { get; private set; }

    /// <summary>The brick name clients must ask for: the child's volume name.</summary>
    public string BrickName => FirstChild?.Name ?? Name;
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;
    public int SessionCount { get { lock (_sessions) return _sessions.Count; } }
    public int ConnectionCount { get { lock (_sessions) return _connections.Count; } }
    public int TotalFds { get { lock (_sessions) return _sessions.Values.Sum(s => s.FdCount); } }
    internal Translator Child => FirstChild!;

    public override ValueTask InitAsync(CancellationToken ct)
    {
        if (FirstChild is null) throw new ArgumentException($"{this}: needs one child");
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Protocol.Server");
        _allow = ParseAllow(Options.GetString("auth-allow"));
        if (Options.GetStringOrNull("secret-file") is { } path) Secret = Wire.Handshake.LoadSecret(path);
        GraceTimeout = Options.GetTime("grace-timeout");
        HandshakeTimeout = Options.GetTime("handshake-timeout");
        RootSquash = Options.GetBool("root-squash");
        ReadSplice = Options.GetLong("read-splice");
        WriteSplice.Min = Options.GetLong("write-splice");
        WritesPassUnchanged = AllPassWritesUnchanged(FirstChild);
        var cert = Options.GetStringOrNull("tls-cert");
        var key = Options.GetStringOrNull("tls-key");
        var ca = Options.GetStringOrNull("tls-ca");
        if (cert is not null || key is not null || ca is not null) Tls = TlsConfig.Load(ToString(), cert, key, ca);
        InitLimits();
        ReadLimits();
        InitMetrics();
        var addr = IPAddress.Parse(Options.GetString("listen-address"));
        if (!IPAddress.IsLoopback(addr) && Secret is null && Tls is null && !Options.GetBool("allow-insecure"))
            throw new ArgumentException(
                $"{this}: refusing to listen on {addr} with neither a secret (secret-file) nor TLS (tls-cert, tls-key, tls-ca): " +
                "anyone who can reach the port could act as any non-root user on this brick. Give one of them, or allow-insecure " +
                "(graft brick --insecure) if the network is trusted");
        if (!IPAddress.IsLoopback(addr) && Secret is null && Tls is null) _log.InsecureListen(addr.ToString());
        var s = new Socket(addr.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // A restarted brick must get its port back at once, though the old one's sockets linger in TIME_WAIT.
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(addr, Options.GetInt("listen-port")));
        s.Listen(512);
        _listener = s;
        StartIoWorkers();   // once nothing can fail any more: the threads are stopped by shutdown only
        _acceptLoop = Task.Run(AcceptLoopAsync);
        return ValueTask.CompletedTask;
    }

    /// <summary>read-splice and write-splice may change while the brick runs: each read, and each write frame received, looks at them.</summary>
    protected override void ApplyOptions(OptionValues options)
    {
        ReadSplice = options.GetLong("read-splice");
        WriteSplice.Min = options.GetLong("write-splice");
    }

    /// <summary>Parses "*" or "10.0.0.0/8, 127.0.0.1"; a bare address is a /32 (or /128).</summary>
    public static List<IPNetwork>? ParseAllow(string text)
    {
        var list = new List<IPNetwork>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part == "*") return null;
            if (IPNetwork.TryParse(part, out var net)) list.Add(net);
            else if (IPAddress.TryParse(part, out var a)) list.Add(new IPNetwork(a, a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            else throw new ArgumentException($"auth-allow: '{part}' is not an address or CIDR");
        }
        return list;
    }

    internal bool IsAllowed(IPEndPoint? peer)
    {
        if (_allow is null) return true;
        if (peer is null) return false;
        var a = peer.Address.IsIPv4MappedToIPv6 ? peer.Address.MapToIPv4() : peer.Address;
        foreach (var n in _allow) if (n.Contains(a)) return true;
        return false;
    }

    internal void Forget(ServerConnection conn)
    {
        lock (_sessions) _connections.Remove(conn);
    }

    /// <summary>
    /// Binds a handshaken connection to its session: the existing one (resumed, its fds intact)
    /// or a new one. A connection that still holds the session (the client reconnected before we
    /// saw the old one die) is closed.
    /// </summary>
    /// <remarks>
    /// While the locks of this mount are being dropped (its last session just ended), a new session
    /// of it must not start: it could take locks that the drop then removes. The caller waits for
    /// <c>Wait</c> and tries again.
    /// <para>
    /// Taking over an existing session needs its resume token (issued in its Welcome) and the same
    /// principal: a client that merely knows the key — the mount identity, generation and instance are
    /// no secrets — gets <c>Refused</c>, and the session and its connection are left as they were.
    /// </para>
    /// </remarks>
    internal (ClientSession? Session, bool Resumed, Task? Wait, bool Refused) Attach(string key, Guid mountId, Guid instance, ServerConnection conn,
                                                                                   string principal, bool trusted, byte[] token)
    {
        ServerConnection? stale = null;
        ClientSession? s;
        bool resumed;
        lock (_sessions)
        {
            resumed = _sessions.TryGetValue(key, out s);
            if (s is not null && (s.Principal != principal || !Wire.Handshake.ProofMatches(s.ResumeToken, token))) return (null, false, null, true);
            if (s is null && _releasing.TryGetValue(mountId, out var wait)) return (null, false, wait, false);
            if (s is null)
            {
                s = new ClientSession(key, conn.Peer, mountId, instance) { Principal = principal, Squash = !trusted && RootSquash };
                _sessions.Add(key, s);
            }
            stale = s.Connection;
            s.Connection = conn;
            s.Peer = conn.Peer;
            s.Grace?.Cancel();
            s.Grace = null;
        }
        stale?.Close("replaced by a reconnect of the same client");
        return (s, resumed, null, false);
    }

    /// <summary>
    /// A connection ended. A clean goodbye frees the session now; otherwise it waits out the
    /// grace so the client can reconnect and find its fds.
    /// </summary>
    internal void Detach(ClientSession s, ServerConnection conn, bool clean)
    {
        CancellationTokenSource? grace = null;
        List<MountRelease>? gone = null;
        lock (_sessions)
        {
            if (s.Connection != conn) return;   // already taken over by a newer connection
            s.Connection = null;
            if (clean || GraceTimeout == TimeSpan.Zero || _stop.IsCancellationRequested) gone = EndLocked(s);
            else { grace = new CancellationTokenSource(); s.Grace = grace; }
        }
        if (grace is null) { _ = ReleaseSessionAsync(s, clean ? "clean disconnect" : "disconnect", gone); return; }
        _log.KeepingForGrace(s.Peer, s.Key, s.FdCount, GraceTimeout);
        _ = ExpireAsync(s, grace);
    }

    private async Task ExpireAsync(ClientSession s, CancellationTokenSource grace)
    {
        try { await Task.Delay(GraceTimeout, grace.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        List<MountRelease>? gone;
        lock (_sessions)
        {
            if (s.Grace != grace || s.Connection is not null) return;
            gone = EndLocked(s);
        }
        await ReleaseSessionAsync(s, "grace expired", gone).ConfigureAwait(false);
    }

    /// <summary>
    /// A session ended: its fds are released (RELEASE drops the flocks held through them and fails
    /// requests waiting through them), the brick graph hears <see cref="Translator.SessionGone"/>
    /// (features/locks drops the domain locks taken through it), then, for each mount it was the last session of, the brick
    /// graph hears <see cref="Translator.ClientGone"/> (features/locks drops that mount's locks).
    /// </summary>
    private async Task ReleaseSessionAsync(ClientSession s, string why, List<MountRelease>? gone)
    {
        var fds = s.RemoveAll();
        foreach (var fd in fds) await ReleaseFdAsync(fd).ConfigureAwait(false);
        _log.Released(s.Peer, s.Key, why, fds.Count);
        try { Child.SessionGone(s.MountId, s.Instance); }
        catch (Exception e) { _log.MountReleaseFailed(e, s.MountId); }
        if (gone is not null) foreach (var m in gone) FinishMountRelease(m, s);
    }

    /// <summary>Drops the table's reference; the last reference sends release down.</summary>
    internal async ValueTask ReleaseFdAsync(Fd fd)
    {
        if (!fd.Unref()) return;
        try
        {
            if (fd.IsDirectory) await Child.ReleasedirAsync(fd).ConfigureAwait(false);
            else await Child.ReleaseAsync(fd).ConfigureAwait(false);
        }
        catch (Exception e) { _log.ReleaseFailed(e, fd); }
    }

    internal ILogger Logger => _log;

    protected override async ValueTask DrainAsync() => await ShutdownAsync().ConfigureAwait(false);

    public override async ValueTask FiniAsync() => await ShutdownAsync().ConfigureAwait(false);

    private int _shutdown;

    /// <summary>Stops accepting, closes every connection and releases every session's fds.</summary>
    public async Task ShutdownAsync()
    {
        if (Interlocked.Exchange(ref _shutdown, 1) != 0) return;
        _stop.Cancel();
        DisposeMetrics();
        _listener?.Dispose();
        if (_acceptLoop is { } a) await a.ConfigureAwait(false);
        _fdReserve?.Dispose();   // after the loop: it takes the reserve again before each accept
        List<ServerConnection> conns;
        List<ClientSession> sessions;
        lock (_sessions)
        {
            conns = [.. _connections];
            sessions = [.. _sessions.Values];
            _sessions.Clear();
            foreach (var s in sessions) s.Grace?.Cancel();
        }
        foreach (var c in conns) c.Close("server shutting down");
        _io?.Stop();
        Pipes.Close();
        // No ClientGone here: the brick graph is going away, and a mount's fcntl locks are better
        // left for teardown to judge (features/locks keeps its grace marker while any is held).
        foreach (var s in sessions) await ReleaseSessionAsync(s, "server shutting down", null).ConfigureAwait(false);
    }
}
