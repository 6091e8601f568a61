using System.CommandLine;
using System.Text.Json.Nodes;
using static Graft.Cli.Commands.ControlConnection;

namespace Graft.Cli.Commands;

/// <summary>`graft peer probe HOST[:PORT]`, `peer status`, `peer detach HOST`: the trusted pool.</summary>
public static class PeerCommand
{
    public static Command Create()
    {
        var cmd = new Command("peer", "The trusted pool: the hosts whose bricks volumes may use.");
        foreach (var o in All) cmd.Options.Add(o);
        var address = new Argument<string>("HOST[:PORT]");
        var probe = new Command("probe", "Add the host whose daemon answers at HOST[:PORT] to the pool (it must share this cluster's store: the same --etcd).") { address };
        probe.SetAction((parse, ct) => RunAsync(parse, "peer probe", async (c, o) =>
        {
            var r = await c.CallAsync("peer.probe", new JsonObject { ["address"] = parse.GetValue(address) }, ct);
            if (parse.GetValue(Json)) PrintJson(o, r); else o.WriteLine($"peer probe: success ({S(r?["host"])}:{S(r?["port"])})");
            return 0;
        }, ct));
        cmd.Subcommands.Add(probe);

        var status = new Command("status", "List the pool's hosts and whether their daemons answer.");
        status.SetAction((parse, ct) => RunAsync(parse, "peer status", async (c, o) =>
        {
            var r = (JsonArray)(await c.CallAsync("peer.status", null, ct))!;
            if (parse.GetValue(Json)) { PrintJson(o, r); return 0; }
            o.WriteLine($"Number of Peers: {r.Count}");
            foreach (var p in r)
                o.WriteLine($"{S(p!["host"])}:{S(p["port"])}{(p["self"]!.GetValue<bool>() ? " (this daemon)" : "")} {(p["connected"]!.GetValue<bool>() ? "Connected" : "Disconnected")}");
            return 0;
        }, ct));
        cmd.Subcommands.Add(status);

        var host = new Argument<string>("HOST");
        var detach = new Command("detach", "Remove a host with no bricks from the pool.") { host };
        detach.SetAction((parse, ct) => RunAsync(parse, "peer detach", async (c, o) =>
        {
            await c.CallAsync("peer.detach", new JsonObject { ["host"] = parse.GetValue(host) }, ct);
            o.WriteLine("peer detach: success");
            return 0;
        }, ct));
        cmd.Subcommands.Add(detach);
        return cmd;
    }
}
