using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Graft.Client;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// A started replica-3 volume of one daemon, and what the heal tests do with it: a client that cannot
/// reach one brick (its volfile names a port nobody listens on) writes, so the other two bricks blame it
/// and list the objects in their heal indexes — a brick down as that client sees it, while the daemon
/// keeps the brick itself running.
/// </summary>
internal static class ReplicaVolume
{
    public static async Task<List<string>> CreateAsync(DaemonProcess d, string home, string name, params string[] hosts)
    {
        var dirs = Enumerable.Range(0, 3).Select(i => Path.Combine(home, $"b{i}")).ToList();
        (await d.Cli(["volume", "create", name, "replica", "3", .. dirs.Select((p, i) => $"{(hosts.Length > 0 ? hosts[i % hosts.Length] : "127.0.0.1")}:{p}")])).Ok("create");
        (await d.Cli("volume", "start", name)).Ok("start");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await d.StatusAsync(name))["bricks"]!.AsArray().All(b => b!["online"]!.GetValue<bool>()))
        {
            Assert.True(DateTime.UtcNow < deadline, "every brick of the volume online within 60s\n" + d.Log);
            await Task.Delay(200);
        }
        return dirs;
    }

    /// <summary>Writes a few files and a directory through a client that reaches every brick but <paramref name="missing"/>.</summary>
    public static async Task WriteWithoutAsync(DaemonProcess d, string volume, int missing)
    {
        var info = (JsonObject)((JsonArray)await d.Json("volume", "info", volume))[0]!;
        var bricks = info["bricks"]!.AsArray();
        var sb = new StringBuilder();
        var clients = new List<string>();
        for (int i = 0; i < bricks.Count; i++)
        {
            var b = bricks[i]!;
            // Named as the daemon names them: replicate's counters are named after its subvolumes.
            var client = $"{volume}-client-{b["id"]!.GetValue<int>()}";
            clients.Add(client);
            int port = i == missing ? FreePort() : b["port"]!.GetValue<int>();
            sb.Append(CultureInfo.InvariantCulture, $"volume {client}\n    type protocol/client\n    option remote-host {b["host"]}\n    option remote-port {port}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume {b["name"]}\n    option secret-file {d.SecretFile}\nend-volume\n\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"volume {volume}-replicate\n    type cluster/replicate\n    subvolumes {string.Join(' ', clients)}\nend-volume\n");
        await using var v = await Volume.OpenVolfileTextAsync(sb.ToString(), "client.vol", new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(30) });
        await v.CreateDirectoryAsync("/d");
        for (int i = 0; i < 3; i++) await v.WriteAllBytesAsync($"/d/f{i}", Encoding.UTF8.GetBytes($"file {i}\n"));
        await v.WriteAllBytesAsync("/top", "top\n"u8.ToArray());
    }

    /// <summary>`volume heal NAME info --json`.</summary>
    public static async Task<JsonObject> InfoAsync(DaemonProcess d, string volume) => (JsonObject)await d.Json("volume", "heal", volume, "info");

    public static long Entries(JsonObject info, int brick) => info["bricks"]![brick]!["entries"]!.GetValue<long>();

    /// <summary>
    /// Polls `heal info` until the sweeps' record satisfies <paramref name="done"/>; returns a look taken after
    /// that (the look of the poll that saw it may have begun while the sweep still ran).
    /// </summary>
    public static async Task<JsonObject> UntilSweepAsync(DaemonProcess d, string volume, Func<JsonNode, bool> done, string what, int seconds = 90) =>
        await UntilAsync(d, volume, info => info["sweep"] is { } s && done(s), what, seconds);

    /// <summary>Polls `heal info` until <paramref name="done"/> holds; returns a look taken after that one.</summary>
    public static async Task<JsonObject> UntilAsync(DaemonProcess d, string volume, Func<JsonObject, bool> done, string what, int seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var info = await InfoAsync(d, volume);
            if (done(info)) return await InfoAsync(d, volume);
            Assert.True(DateTime.UtcNow < deadline, $"{what} within {seconds}s; last heal info: {info.ToJsonString()}\n{d.Log}");
            await Task.Delay(500);
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
