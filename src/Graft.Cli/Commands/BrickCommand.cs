using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Graft.Core;
using Graft.Core.Diagnostics;
using Graft.Xlators;
using Graft.Xlators.Protocol.Server;
using Microsoft.Extensions.Logging;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft brick`: serves one brick over TCP in the foreground (GlusterFS's glusterfsd). Either a
/// directory under the standard brick graph (protocol/server over features/locks over features/index over storage/posix), or any brick
/// graph from a volfile. Prints `listening ADDR:PORT` on stdout once clients can connect; logs
/// go to stderr. SIGTERM or SIGINT shuts it down cleanly (PARENT_DOWN, then destroy).
/// </summary>
public static class BrickCommand
{
    public static Command Create()
    {
        var dir = new Option<DirectoryInfo?>("--dir") { Description = "Directory to export under the standard brick graph." };
        var volfile = new Option<FileInfo?>("--volfile") { Description = "Serve this brick graph instead (its top, or a volume in it, is protocol/server)." };
        var port = new Option<int>("--port") { Description = "TCP port; 0 picks a free one.", DefaultValueFactory = _ => 0 };
        var name = new Option<string?>("--name") { Description = "Brick name clients ask for (remote-subvolume); defaults to the directory's last component." };
        var listen = new Option<string>("--listen") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var allow = new Option<string>("--auth-allow") { Description = "Comma-separated addresses/CIDRs allowed to connect, or *.", DefaultValueFactory = _ => "*" };
        var secret = new Option<FileInfo?>("--secret-file") { Description = "File holding the shared secret clients must prove (HMAC, never sent); sessions that prove it are trusted." };
        var noSquash = new Option<bool>("--no-root-squash") { Description = "Trust the uid/gid that unauthenticated sessions send, root included (only where every local user may be root on the brick)." };
        var insecure = new Option<bool>("--insecure") { Description = "Allow a non-loopback --listen with neither --secret-file nor TLS." };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "PEM certificate the brick presents; with --tls-key and --tls-ca clients must speak TLS 1.3." };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var tlsCa = new Option<FileInfo?>("--tls-ca") { Description = "PEM CA: clients must present a certificate it signed; such sessions are trusted." };
        var maxConn = new Option<int?>("--max-connections") { Description = "Connections served at once (default 1024); more are refused." };
        var maxPerAddr = new Option<int?>("--max-connections-per-address") { Description = "Connections from one address at once (default 64); more are refused." };
        var grace = new Option<string?>("--grace-timeout") { Description = "How long an uncleanly disconnected client keeps its fds (e.g. 10s)." };
        var lockGrace = new Option<int>("--lock-grace")
        {
            Description = "Seconds after a start in which only lock reclaims are granted, so clients get back the locks they held before a crash or restart (0: none). Only applies when locks were held when the brick last stopped.",
            DefaultValueFactory = _ => 10,
        };
        lockGrace.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 0 or > 3600) r.AddError("--lock-grace must be between 0 and 3600 seconds"); });
        var maxFds = Limit("--max-open-fds-per-session", "Files and directories one client session may have open; one more open gets EMFILE (default 16384).");
        var maxLockWaits = Limit("--max-lock-waits-per-session", "Blocking lock requests (F_SETLKW) one client session may have waiting; one more gets ENOLCK (default 4096).");
        var metrics = new Option<string?>("--metrics") { Description = "Serve the brick's metrics in Prometheus text format on http://ADDR:PORT/metrics (e.g. 127.0.0.1:9465; 0.0.0.0 for every address, port 0 for a free one, printed as 'metrics on URL'). See docs/metrics.md." };
        metrics.Validators.Add(r => { if (!MetricsAddress.TryParse(r.GetValueOrDefault<string?>(), out _, out var why)) r.AddError("--metrics " + why); });
        var dumpDir = new Option<DirectoryInfo?>("--dump-dir") { Description = "Where SIGUSR1 writes a state dump (brick-NAME.PID.dump-TIME.json: connections, sessions, bytes, per-fop calls and latency); default " + Daemons.DefaultLogDir + "." };
        var ioThreads = new Option<int?>("--io-threads") { Description = "Serve fops on N threads of the brick's own, at most N at once (a fop stuck in a slow syscall holds one, the others go on); default 0: the .NET thread pool, cheaper per request. See docs/wire-protocol.md." };
        ioThreads.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0 or > 1024) r.AddError("--io-threads must be between 0 and 1024"); });
        var inlineFops = OnOff("--inline-fops", "Serve a cheap fop (lookup, stat, create, unlink, a small read or write...) that arrives alone on its connection's receive thread, with no hand-off (default on; never with --io-threads). See docs/performance.md.");
        var writebackChunk = new Option<string?>("--writeback-chunk") { Description = "storage/posix's writeback-chunk: once an fd has written this many bytes (e.g. 4MB, the default), the kernel starts writing them to disk, not waited for; 0: leave it to the kernel's flusher. See docs/performance.md." };
        var dropBehind = OnOff("--drop-behind", "storage/posix's drop-behind: once a chunk of a sequential writer (--writeback-chunk) is on disk, its pages are dropped from the page cache, waited for off the write's path (default on). See docs/performance.md.");
        var readSplice = new Option<string?>("--read-splice") { Description = "protocol/server's read-splice: on a plaintext connection, reads of at least this many bytes (e.g. 64KB, the default) go from the page cache to the socket with splice(2), not copied; 0: never. See docs/performance.md." };
        var writeSplice = new Option<string?>("--write-splice") { Description = "protocol/server's write-splice: on a plaintext connection, the data of writes of at least this many bytes (e.g. 64KB, the default) goes from the socket into a pipe and from there into the file with splice(2), not copied into the brick's memory; 0: never. See docs/performance.md." };
        var receiveThreads = OnOff("--receive-threads", "Give each connection a receive thread of its own, blocked in the socket (default on); off: the .NET socket engine and thread pool receive. See docs/performance.md.");
        var maxLocks = Limit("--max-locks-per-client", "Locks one client mount may hold on this brick; one more gets ENOLCK (default 16384).");
        var cmd = new Command("brick", """
            Serve a brick over TCP in the foreground until SIGTERM.

            Trust: a session that proves --secret-file or presents a client certificate signed by --tls-ca is
            trusted, and the uid/gid/groups of its calls are used as sent (root included). Any other session is
            untrusted: its uid and gid 0 become 65534 (root squash) and it gets no trusted.* or security.* xattrs;
            other ids are still taken on its word, so listening beyond loopback needs a secret or TLS (or --insecure).
            --no-root-squash trusts every session. `graft up` makes a secret for its brick and mount.
            See docs/security.md.
            """)
        {
            dir, volfile, port, name, listen, allow, secret, grace, lockGrace, noSquash, insecure, tlsCert, tlsKey, tlsCa, maxConn, maxPerAddr,
            maxFds, maxLockWaits, maxLocks, ioThreads, inlineFops, receiveThreads, writebackChunk, dropBehind, readSplice, writeSplice, metrics, dumpDir,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var d = parse.GetValue(dir);
            var v = parse.GetValue(volfile);
            if ((d is null) == (v is null))
            {
                error.WriteLine("graft brick: give exactly one of --dir DIR or --volfile FILE");
                return 2;
            }
            string text, file;
            if (v is not null)
            {
                try { text = await File.ReadAllTextAsync(v.FullName, ct); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    error.WriteLine($"{v}: cannot read: {e.Message}");
                    return 1;
                }
                file = v.FullName;
            }
            else
            {
                if (!d!.Exists) { error.WriteLine($"graft brick: {d.FullName}: no such directory"); return 1; }
                var brickName = parse.GetValue(name) ?? d.FullName.TrimEnd('/').Split('/')[^1];
                if (brickName.Length == 0 || brickName.Any(char.IsWhiteSpace)) { error.WriteLine("graft brick: give a --name without spaces"); return 2; }
                var security = new BrickSecurity
                {
                    NoRootSquash = parse.GetValue(noSquash), Insecure = parse.GetValue(insecure),
                    TlsCert = parse.GetValue(tlsCert)?.FullName, TlsKey = parse.GetValue(tlsKey)?.FullName, TlsCa = parse.GetValue(tlsCa)?.FullName,
                    MaxConnections = parse.GetValue(maxConn), MaxConnectionsPerAddress = parse.GetValue(maxPerAddr),
                };
                text = StandardBrickVolfile(brickName, d.FullName, parse.GetValue(listen)!, parse.GetValue(port), parse.GetValue(allow)!,
                                            parse.GetValue(secret)?.FullName, parse.GetValue(grace), parse.GetValue(lockGrace), security,
                                            new BrickLimits(parse.GetValue(maxFds), parse.GetValue(maxLockWaits), parse.GetValue(maxLocks), parse.GetValue(ioThreads))
                                            { InlineFops = parse.GetValue(inlineFops), ReceiveThreads = parse.GetValue(receiveThreads), WritebackChunk = parse.GetValue(writebackChunk), DropBehind = parse.GetValue(dropBehind), ReadSplice = parse.GetValue(readSplice), WriteSplice = parse.GetValue(writeSplice) });
                file = "<brick " + brickName + ">";
            }
            MetricsAddress? at = parse.GetValue(metrics) is { } m && MetricsAddress.TryParse(m, out var a, out _) ? a : null;
            return await ServeAsync(text, file, output, error, at, parse.GetValue(dumpDir)?.FullName ?? Daemons.DefaultLogDir);
        });
        return cmd;
    }

    /// <summary>Where the standard brick keeps features/locks' grace marker: in storage/posix's private directory, which clients never see.</summary>
    public static string LockGraceMarker(string directory) => Path.Combine(directory, ".graft", "lock-grace-marker");

    /// <summary>Where the standard brick keeps features/index's heal index: in storage/posix's private directory too.</summary>
    public static string HealIndexDirectory(string directory) => Path.Combine(directory, ".graft", "indices");

    /// <summary>
    /// protocol/server over features/locks over features/upcall over features/index over storage/posix. The volume
    /// right under the server carries the brick's name, which is what clients ask for.
    /// features/locks keeps its grace marker in the brick's private .graft directory, so a brick
    /// that held no locks when it stopped starts without a lock grace; features/index keeps the
    /// heal index there too.
    /// </summary>
    public static string StandardBrickVolfile(string name, string directory, string listen, int port, string allow, string? secretFile, string? grace,
                                              int lockGrace = 10, BrickSecurity? security = null, BrickLimits? limits = null)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"volume {name}-posix\n    type storage/posix\n    option directory {directory}\n");
        if (limits?.WritebackChunk is { } wb) sb.Append(CultureInfo.InvariantCulture, $"    option writeback-chunk {wb}\n");
        if (limits?.DropBehind is { } db) sb.Append(CultureInfo.InvariantCulture, $"    option drop-behind {db}\n");
        sb.Append("end-volume\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"volume {name}-index\n    type features/index\n    option index-directory {HealIndexDirectory(directory)}\n    subvolumes {name}-posix\nend-volume\n\n");
        // features/upcall sees every fop that reaches the disk, with the session that sent it (docs/performance.md).
        sb.Append(CultureInfo.InvariantCulture, $"volume {name}-upcall\n    type features/upcall\n    subvolumes {name}-index\nend-volume\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"volume {name}\n    type features/locks\n    option lock-grace {lockGrace}\n    option grace-marker {LockGraceMarker(directory)}\n");
        if (limits?.MaxLocksPerClient is { } locks) sb.Append(CultureInfo.InvariantCulture, $"    option max-locks-per-client {locks}\n");
        sb.Append(CultureInfo.InvariantCulture, $"    subvolumes {name}-upcall\nend-volume\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"volume {name}-server\n    type protocol/server\n    option listen-address {listen}\n    option listen-port {port}\n    option auth-allow {allow}\n");
        if (limits?.MaxOpenFdsPerSession is { } fds) sb.Append(CultureInfo.InvariantCulture, $"    option max-open-fds-per-session {fds}\n");
        if (limits?.MaxLockWaitsPerSession is { } waits) sb.Append(CultureInfo.InvariantCulture, $"    option max-lock-waits-per-session {waits}\n");
        if (limits?.IoThreads is { } io) sb.Append(CultureInfo.InvariantCulture, $"    option io-threads {io}\n");
        if (limits?.InlineFops is { } inl) sb.Append(CultureInfo.InvariantCulture, $"    option inline-fops {inl}\n");
        if (limits?.ReceiveThreads is { } rt) sb.Append(CultureInfo.InvariantCulture, $"    option receive-threads {rt}\n");
        if (limits?.ReadSplice is { } rs) sb.Append(CultureInfo.InvariantCulture, $"    option read-splice {rs}\n");
        if (limits?.WriteSplice is { } ws) sb.Append(CultureInfo.InvariantCulture, $"    option write-splice {ws}\n");
        if (secretFile is not null) sb.Append(CultureInfo.InvariantCulture, $"    option secret-file {secretFile}\n");
        if (grace is not null) sb.Append(CultureInfo.InvariantCulture, $"    option grace-timeout {grace}\n");
        security?.AppendOptions(sb);
        sb.Append(CultureInfo.InvariantCulture, $"    subvolumes {name}\nend-volume\n");
        return sb.ToString();
    }

    /// <summary>An on/off flag for a protocol/server switch, or absent for the translator's default.</summary>
    internal static Option<string?> OnOff(string flag, string description)
    {
        var o = new Option<string?>(flag) { Description = description };
        o.AcceptOnlyFromAmong("on", "off");
        return o;
    }

    /// <summary>A per-client limit flag: a positive count, or absent for the translator's default.</summary>
    private static Option<int?> Limit(string flag, string description)
    {
        var o = new Option<int?>(flag) { Description = description };
        o.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError($"{flag} must be at least 1"); });
        return o;
    }

    /// <summary>The security flags of `graft brick --dir`, as protocol/server options.</summary>
    public sealed record BrickSecurity
    {
        public bool NoRootSquash { get; init; }
        public bool Insecure { get; init; }
        public string? TlsCert { get; init; }
        public string? TlsKey { get; init; }
        public string? TlsCa { get; init; }
        public int? MaxConnections { get; init; }
        public int? MaxConnectionsPerAddress { get; init; }

        internal void AppendOptions(StringBuilder sb)
        {
            void Opt(string key, object? value) { if (value is not null) sb.Append(CultureInfo.InvariantCulture, $"    option {key} {value}\n"); }
            if (NoRootSquash) Opt("root-squash", "off");
            if (Insecure) Opt("allow-insecure", "on");
            Opt("tls-cert", TlsCert);
            Opt("tls-key", TlsKey);
            Opt("tls-ca", TlsCa);
            Opt("max-connections", MaxConnections);
            Opt("max-connections-per-address", MaxConnectionsPerAddress);
        }
    }

    private static async Task<int> ServeAsync(string text, string file, TextWriter output, TextWriter error, MetricsAddress? metricsAt, string dumpDir)
    {
        // Before the graph: a taken port is said at once, and the server's instruments are exported from their creation.
        var problem = "";
        using var metrics = metricsAt is { } at ? MetricsExport.Start(at, ProtocolServer.MeterName, "graft-brick", out problem) : null;
        if (metricsAt is not null && metrics is null) { error.WriteLine("graft brick: " + problem); return 1; }
        using var loggers = LoggerFactory.Create(b => b
            .SetMinimumLevel(LogLevel.Information)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .AddFilter("Microsoft", LogLevel.Warning));
        Graph graph;
        try { graph = GraphBuilder.Build(text, file, BuiltinXlators.CreateRegistry(), generation: 1, loggers: loggers); }
        catch (VolfileException e) { error.WriteLine(e.Message); return 1; }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        try
        {
            if (!await graph.StartAndWaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None))
            {
                error.WriteLine("graft brick: the brick graph did not come up within 30s");
                await graph.DestroyAsync();
                return 1;
            }
        }
        catch (Exception e) when (e is ArgumentException or IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            error.WriteLine($"graft brick: cannot start: {e.Message}");
            await graph.DestroyAsync();
            return 1;
        }
        var server = graph.Top as ProtocolServer ?? graph.Translators.OfType<ProtocolServer>().FirstOrDefault();
        if (server?.LocalEndPoint is not { } ep)
        {
            error.WriteLine("graft brick: the graph has no protocol/server");
            await graph.DestroyAsync();
            return 1;
        }
        using var usr1 = PosixSignalRegistration.Create((PosixSignal)StateDump.SIGUSR1, c =>
        {
            c.Cancel = true;
            try { error.WriteLine("graft brick: state dump written to " + StateDump.Write(dumpDir, "brick-" + server.BrickName, server.GetStats().ToJson())); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { error.WriteLine($"graft brick: cannot write a state dump to {dumpDir}: {e.Message}"); }
        });
        if (metrics is not null) output.WriteLine($"metrics on {metrics.Url}");
        output.WriteLine($"listening {ep.Address}:{ep.Port}");
        output.Flush();

        await stop.Task;
        graph.SendParentDown();
        try { await graph.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (TimeoutException) { error.WriteLine("graft brick: drain took longer than 10s; stopping anyway"); }
        await graph.DestroyAsync();
        output.WriteLine("stopped");
        return 0;
    }
}

/// <summary>Per-client limits of the standard brick graph (null: the translators' defaults).</summary>
public sealed record BrickLimits(int? MaxOpenFdsPerSession, int? MaxLockWaitsPerSession, int? MaxLocksPerClient, int? IoThreads = null)
{
    /// <summary>protocol/server's inline-fops, "on" or "off"; null: its default.</summary>
    public string? InlineFops { get; init; }
    /// <summary>protocol/server's receive-threads, "on" or "off"; null: its default.</summary>
    public string? ReceiveThreads { get; init; }
    /// <summary>storage/posix's writeback-chunk (a size, 0: off); null: its default.</summary>
    public string? WritebackChunk { get; init; }
    /// <summary>storage/posix's drop-behind, "on" or "off"; null: its default.</summary>
    public string? DropBehind { get; init; }
    /// <summary>protocol/server's read-splice (a size, 0: off); null: its default.</summary>
    public string? ReadSplice { get; init; }
    /// <summary>protocol/server's write-splice (a size, 0: off); null: its default.</summary>
    public string? WriteSplice { get; init; }
}
