using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Store;
using Graft.Management.Store.Sqlite;
using Graft.Management.Volumes;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// A rebalance whose leader went away while it ran (the record still says "running", its child was
/// killed with the leadership) is run again by the next leader to take the jobs lease, here the same
/// daemon restarted over its store, instead of staying "running" for ever.
/// </summary>
public sealed class AJobItsLeaderLeftRunningRunsAgain
{
    [Fact]
    public async Task The_next_leader_runs_it_to_completion()
    {
        var home = Proc.PrivateDir("mgmt-job-abandoned");
        var state = Path.Combine(home, "state");
        await using var d = await DaemonProcess.StartAsync(state);
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b1", $"127.0.0.1:{home}/b2")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            (await d.Cli("volume", "rebalance", "v", "start")).Ok("rebalance");
            var first = await UntilSettledAsync(d);
            Assert.Equal("completed", first.State);
            await d.StopAsync();

            // What a leader that died mid-run leaves in the store.
            await using (var store = await SqliteStore.OpenAsync(Path.Combine(state, "store.db")))
                await store.CommitAsync([], [new StoreOp.Put("rebalance/v", JsonSerializer.Serialize(
                    first with { State = "running", Leader = "127.0.0.9", Output = null, UpdatedUnixMs = first.UpdatedUnixMs + 1 }, Volume.Json))]);

            await d.RestartAsync();
            var again = await UntilSettledAsync(d);
            Assert.Equal("completed", again.State);
            Assert.Equal("127.0.0.1", again.Leader);
            Assert.True(again.UpdatedUnixMs > first.UpdatedUnixMs + 1, "the job was not run again");
            Assert.Equal(2, Regex.Count(d.Log, "rebalance of volume v started"));
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }

    private static async Task<RebalanceStatus> UntilSettledAsync(DaemonProcess d)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var s = JsonSerializer.Deserialize<RebalanceStatus>((await d.Cli("volume", "rebalance", "v", "status", "--json")).Ok("status").Out, Volume.Json)!;
            if (s.State is not ("requested" or "running")) return s;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), $"the job is still {s.State} after 90 s");
            await Task.Delay(200);
        }
    }
}
