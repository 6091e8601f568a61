using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Graft.Management.Protocol;
using Graft.Management.Volumes;

namespace Graft.Cli.Commands;

/// <summary>
/// What the `volume` and `peer` verbs share: which daemon to ask (`--server HOST[:PORT]`, default
/// $GRAFT_SERVER or 127.0.0.1:24007), the cluster secret that proves the CLI may (`--secret-file`,
/// default the state dir's secret, readable by root only), TLS (`--tls`, `--tls-cert/--tls-key/--tls-ca`)
/// for a daemon that requires it, `--json`, and one place that turns a
/// refusal or an unreachable daemon into a message and exit code 1.
/// </summary>
internal static class ControlConnection
{
    public static readonly Option<string?> Server = new("--server")
    {
        Description = "The management daemon to ask, HOST[:PORT] (default $GRAFT_SERVER or 127.0.0.1:24007).", Recursive = true,
    };

    public static readonly Option<FileInfo?> SecretFile = new("--secret-file")
    {
        Description = "The cluster secret (default the daemon's state dir: $GRAFT_STATE_DIR/secret or /var/lib/graft/secret).", Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json") { Description = "Print the daemon's answer as JSON.", Recursive = true };

    public static readonly Option<bool> Tls = new("--tls")
    {
        Description = $"Connect with TLS, presenting this machine's certificate ({TlsFiles.DefaultDir}/node.pem, node.key, ca.pem unless --tls-cert, --tls-key, --tls-ca say otherwise). Needed for a daemon started with TLS.",
        Recursive = true,
    };

    public static readonly Option<FileInfo?> TlsCert = new("--tls-cert") { Description = "This client's certificate (PEM), signed by the cluster's CA; implies --tls.", Recursive = true };
    public static readonly Option<FileInfo?> TlsKey = new("--tls-key") { Description = "The key of --tls-cert (PEM); implies --tls.", Recursive = true };
    public static readonly Option<FileInfo?> TlsCa = new("--tls-ca") { Description = "The cluster's CA (PEM): the daemon's certificate must be signed by it and name the --server host; implies --tls.", Recursive = true };

    /// <summary>Every option that says how to reach the daemon, for the group commands.</summary>
    public static Option[] All => [Server, SecretFile, Json, Tls, TlsCert, TlsKey, TlsCa];

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Connects, runs <paramref name="body"/>, maps failures to a message on stderr and exit code 1.</summary>
    public static async Task<int> RunAsync(ParseResult parse, string verb, Func<ManagementClient, TextWriter, Task<int>> body, CancellationToken ct)
    {
        var error = parse.InvocationConfiguration.Error;
        var server = parse.GetValue(Server) ?? Environment.GetEnvironmentVariable("GRAFT_SERVER") ?? "127.0.0.1";
        var secretPath = parse.GetValue(SecretFile)?.FullName ?? Path.Combine(DaemonCommand.StateDir, "secret");
        try
        {
            var (host, port) = ManagementClient.ParseAddress(server, DaemonCommand.DefaultPort);
            byte[] secret;
            try { secret = Handshake.LoadSecret(secretPath); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                error.WriteLine($"graft {verb}: cannot read the cluster secret {secretPath} ({e.Message}); give --secret-file (root's daemons keep it in their state dir)");
                return 1;
            }
            var tls = TlsFiles.From(parse.GetValue(Tls), parse.GetValue(TlsCert)?.FullName, parse.GetValue(TlsKey)?.FullName, parse.GetValue(TlsCa)?.FullName)
                      ?.Load("this client's certificate");
            await using var c = await ManagementClient.ConnectAsync(host, port, secret, TimeSpan.FromSeconds(10), ct, tls);
            return await body(c, parse.InvocationConfiguration.Output);
        }
        catch (ManagementError e) { error.WriteLine($"graft {verb}: {e.Message}"); return 1; }
        catch (FormatException e) { error.WriteLine($"graft {verb}: {e.Message}"); return 2; }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidDataException)
        {
            error.WriteLine($"graft {verb}: cannot reach the management daemon at {server}: {e.Message} (is `graft daemon` running?)");
            return 1;
        }
    }

    public static void PrintJson(TextWriter o, JsonNode? node) => o.WriteLine(node?.ToJsonString(Indented) ?? "null");

    public static string S(JsonNode? n) => n switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => n.ToJsonString(),
    };
}
