using System.Text.Json;
using Graft.Core;

namespace Graft.Mount.Tests;

public class SessionStateTests
{
    [Fact]
    public async Task State_counts_graphs_nodes_and_open_files_and_serialises_in_camel_case()
    {
        await using var t = await TestSession.StartAsync();
        var f = await t.CreateFileAsync("f");
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDONLY));
        var st = t.Session.GetState();
        Assert.Equal(1, st.ActiveGeneration);
        var g = Assert.Single(st.Graphs);
        Assert.Equal(1, g.Generation);
        Assert.Equal("active", g.State);
        Assert.Equal(0, g.FopsInFlight);
        Assert.Equal(1, g.Fds);
        Assert.True(g.ChildUp);
        Assert.Equal(1, st.OpenFileCount);
        Assert.Equal(1, st.OpenFiles[1]);
        Assert.Equal(2, st.Nodes); // root + f
        Assert.Equal(2, st.Counters.FilesOpened);   // the create and the open
        Assert.Equal(1, st.Counters.FilesReleased);

        var json = st.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("activeGeneration").GetInt64());
        Assert.Equal(0, root.GetProperty("graphs")[0].GetProperty("fopsInFlight").GetInt64());
        Assert.Equal(1, root.GetProperty("openFiles").GetProperty("1").GetInt32());
        Assert.True(root.GetProperty("counters").TryGetProperty("fdMigrationFailures", out _));
        foreach (var key in new[] { "switches", "reconfigures", "fdMigrations", "fdMigrationFailures", "graphsDestroyed", "retirementsForced" })
            Assert.True(root.GetProperty("counters").TryGetProperty(key, out _), key);
        Assert.Equal(Environment.ProcessId, root.GetProperty("pid").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("lastVolfileError").ValueKind);
        Assert.Equal(st.Counters, MountState.FromJson(json)!.Counters);
        await t.Session.ReleaseAsync(file);
    }
}
