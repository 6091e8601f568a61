using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Graft.Management;
using Graft.Management.Bricks;
using Graft.Management.Protocol;
using Graft.Management.Volumes;
using Microsoft.Extensions.Logging;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft daemon`: the management daemon (GlusterFS's glusterd) in the foreground. Prints
/// `listening ADDR:PORT` once the CLI and mounts can connect; SIGTERM stops it and leaves the bricks
/// running (the next daemon on the state dir adopts them).
/// </summary>
public static class DaemonCommand
{
    public const int DefaultPort = 24007;
    public const string DefaultStateDir = "/var/lib/graft";

    /// <summary>The state dir the CLI looks in for the cluster secret: $GRAFT_STATE_DIR, else /var/lib/graft.</summary>
    public static string StateDir => Environment.GetEnvironmentVariable("GRAFT_STATE_DIR") is { Length: > 0 } d ? d : DefaultStateDir;

    public static Command Create()
    {
        var stateDir = new Option<DirectoryInfo?>("--state-dir") { Description = $"Where the store (SQLite), the cluster secret, pid files and brick logs live (default $GRAFT_STATE_DIR or {DefaultStateDir})." };
        var listen = new Option<string>("--listen") { Description = "Address to listen on; it is also this host's name in HOST:/DIR unless --host says otherwise.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = $"TCP port (0 picks a free one).", DefaultValueFactory = _ => DefaultPort };
        var host = new Option<string?>("--host") { Description = "This host's name in bricks (HOST:/DIR) and in the pool (default the --listen address)." };
        var etcd = new Option<string?>("--etcd") { Description = "etcd endpoints (URL,...): keep the cluster's state in etcd, shared by the daemons of several hosts. Default: SQLite in the state dir (one node)." };
        var prefix = new Option<string>("--etcd-prefix") { Description = "Key prefix of this cluster in etcd.", DefaultValueFactory = _ => "/graft/" };
        var tls = new Option<bool>("--tls")
        {
            Description = $"TLS 1.3 on the control port, for this host's bricks and in the volfiles mounts get: every connection must present a certificate of the cluster's CA. Files: {TlsFiles.DefaultDir}/node.pem, node.key, ca.pem unless --tls-cert, --tls-key, --tls-ca say otherwise. Every daemon of a cluster uses TLS or none.",
        };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "This host's certificate (PEM; the cluster's CA signed it; it names the --host/--listen address; serverAuth and clientAuth purposes). Implies --tls." };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "The key of --tls-cert (PEM, root's 0600). Implies --tls." };
        var tlsCa = new Option<FileInfo?>("--tls-ca") { Description = "The cluster's CA (PEM): clients, peers and bricks must present certificates it signed. Implies --tls." };
        var cmd = new Command("daemon", "Run the management daemon in the foreground: volumes, peers, this host's bricks, and volfiles for mounts.")
        {
            stateDir, listen, port, host, etcd, prefix, tls, tlsCert, tlsKey, tlsCa,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                error.WriteLine($"graft daemon: --listen {parse.GetValue(listen)} is not an IP address");
                return 2;
            }
            var p = parse.GetValue(port);
            if (p is < 0 or > 65535) { error.WriteLine("graft daemon: --port must be 0..65535"); return 2; }
            using var loggers = LoggerFactory.Create(b => b
                .SetMinimumLevel(LogLevel.Information)
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning)
                .AddFilter("System.Net.Http", LogLevel.Warning));
            var options = new DaemonOptions(Path.GetFullPath(parse.GetValue(stateDir)?.FullName ?? StateDir), address, p,
                                            Processes.SelfCommand(typeof(Program).Assembly))
            {
                Host = parse.GetValue(host),
                Etcd = parse.GetValue(etcd)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
                EtcdPrefix = parse.GetValue(prefix)!,
                Tls = TlsFiles.From(parse.GetValue(tls), parse.GetValue(tlsCert)?.FullName, parse.GetValue(tlsKey)?.FullName, parse.GetValue(tlsCa)?.FullName),
            };
            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
            using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
            ManagementDaemon daemon;
            try { daemon = await ManagementDaemon.StartAsync(options, loggers, ct); }
            catch (Exception e) when (e is ManagementError or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException
                                          or Graft.Management.Store.StoreUnavailableException or Microsoft.Data.Sqlite.SqliteException)
            {
                error.WriteLine("graft daemon: " + e.Message);
                return 1;
            }
            output.WriteLine($"listening {daemon.EndPoint!.Address}:{daemon.EndPoint.Port}");
            output.Flush();
            await stop.Task;
            await daemon.DisposeAsync();
            output.WriteLine("stopped");
            return 0;
        });
        return cmd;
    }
}
