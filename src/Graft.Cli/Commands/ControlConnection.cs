using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Graft.Management.Protocol;
using Graft.Management.Volumes;

namespace Graft.Cli.Commands;

/// <summary>
/// What the `volume` and `peer` verbs share: which daemon to ask (`--server HOST[:PORT]`, default
/// $GRAFT_SERVER or 127.0.0.1:24007), the cluster secret that proves the CLI may (`--secret-file`,
/// default the state dir's secret, readable by root only), `--json`, and one place that turns a
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
            await using var c = await ManagementClient.ConnectAsync(host, port, secret, TimeSpan.FromSeconds(10), ct);
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
