using System.Text.Json;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// How a mount ends: SIGTERM, plain umount(8), `graft umount` with files still open, and a daemon killed
/// outright (ENOTCONN until unmounted). Also what `graft state`, `graft mount` and `graft up` say.
/// </summary>
public class MountDaemonLifecycle
{
    [MountFact]
    public async Task Sigterm_unmounts_cleanly_and_the_daemon_exits()
    {
        await using var v = await MountedVolume.UpAsync("sigterm");
        await File.WriteAllTextAsync(v.P("f"), "kept");
        var pid = v.DaemonPid();
        Assert.Equal(0, Sys.kill(pid, 15));
        await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the daemon to exit after SIGTERM");
        Assert.False(Proc.IsMounted(v.Mnt));
        Assert.Contains("unmounted", v.Logs());
        Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(v.Brick, "f")));
    }

    [MountFact]
    public async Task Plain_umount_makes_the_daemon_exit()
    {
        await using var v = await MountedVolume.UpAsync("umount");
        var pid = v.DaemonPid();
        (await Proc.RunAsync("umount", [v.Mnt])).Ok("umount");
        await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the daemon to exit after umount");
        Assert.False(Proc.IsMounted(v.Mnt));
        var state = await Proc.Graft(v.Home, "state", v.Mnt);
        Assert.Equal(1, state.Code);
        Assert.Contains("no graft mount daemon answers", state.Err);
    }

    [MountFact]
    public async Task Unmounting_with_files_open_detaches_and_the_daemon_serves_them_until_closed()
    {
        await using var v = await MountedVolume.UpAsync("busy");
        await File.WriteAllTextAsync(v.P("f"), "still readable");
        var pid = v.DaemonPid();
        var s = new FileStream(v.P("f"), FileMode.Open, FileAccess.ReadWrite);
        try
        {
            var r = (await Proc.Graft(v.Home, "umount", "--timeout", "1", v.Mnt)).Ok("graft umount with a file open");
            Assert.Contains("still open", r.Out);
            Assert.False(Proc.IsMounted(v.Mnt), "the mount should be detached from the tree");
            Assert.True(Directory.Exists($"/proc/{pid}"), "the daemon must keep serving the open file");
            var buf = new byte[64];
            int n = s.Read(buf);
            Assert.Equal("still readable", System.Text.Encoding.ASCII.GetString(buf, 0, n));
            s.Write("!"u8);
            s.Flush();
        }
        finally { s.Dispose(); }
        await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the daemon to exit once the last file closed");
        Assert.Equal("still readable!", await File.ReadAllTextAsync(Path.Combine(v.Brick, "f")));
    }

    [MountFact]
    public async Task A_killed_daemon_leaves_ENOTCONN_and_a_mount_that_can_be_unmounted()
    {
        await using var v = await MountedVolume.UpAsync("killed");
        await File.WriteAllTextAsync(v.P("f"), "x");
        var pid = v.DaemonPid();
        Assert.Equal(0, Sys.kill(pid, 9));
        await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the daemon to die");
        var st = await Proc.Sh($"stat '{v.P("f")}'");
        Assert.NotEqual(0, st.Code);
        Assert.Contains("Transport endpoint is not connected", st.Err);
        Assert.True(Proc.IsMounted(v.Mnt));
        (await Proc.Graft(v.Home, "umount", v.Mnt)).Ok("graft umount of a dead mount");
        Assert.False(Proc.IsMounted(v.Mnt));
        // The brick is untouched and `graft down` still stops it.
        var brick = v.BrickPid();
        (await Proc.Graft(v.Home, "down", v.Mnt)).Ok("graft down");
        await Proc.Until(() => !Directory.Exists($"/proc/{brick}"), "the brick to stop");
    }

    [MountFact]
    public async Task State_is_served_as_camel_case_json()
    {
        await using var v = await MountedVolume.UpAsync("state");
        await using var open = new FileStream(v.P("f"), FileMode.Create, FileAccess.Write);
        var r = (await Proc.Graft(v.Home, "state", v.Mnt)).Ok("graft state");
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(v.DaemonPid(), root.GetProperty("pid").GetInt32());
        Assert.Equal(1, root.GetProperty("activeGeneration").GetInt64());
        var g = root.GetProperty("graphs")[0];
        Assert.Equal(1, g.GetProperty("generation").GetInt64());
        Assert.Equal("active", g.GetProperty("state").GetString());
        Assert.True(g.TryGetProperty("fopsInFlight", out _));
        Assert.True(g.GetProperty("inodes").GetInt32() >= 2);
        Assert.Equal(1, g.GetProperty("fds").GetInt32());
        Assert.Equal(1, root.GetProperty("openFileCount").GetInt32());
        Assert.Equal(1, root.GetProperty("openFiles").GetProperty("1").GetInt32());   // per graph generation
        var c = root.GetProperty("counters");
        foreach (var k in new[] { "switches", "reconfigures", "fdMigrations", "fdMigrationFailures", "graphsDestroyed", "retirementsForced" })
            Assert.Equal(0, c.GetProperty(k).GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("lastVolfileError").ValueKind);
    }

    [MountFact]
    public async Task A_refused_volfile_edit_shows_in_state_and_the_mount_keeps_working()
    {
        await using var v = await MountedVolume.UpAsync("volfile-edit");
        var vol = Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        var good = await File.ReadAllTextAsync(vol);
        Proc.WriteVolfile(vol, good + "volume extra\n    type no/such-type\nend-volume\n");
        var badLine = good.Split('\n').Length + 1;
        JsonElement? err = null;
        await Proc.Until(() =>
        {
            using var doc = JsonDocument.Parse(Graft.Mount.Control.ControlClient.Send(
                Graft.Mount.Control.ControlClient.SocketPathFor(v.Mnt), "state", TimeSpan.FromSeconds(5)));
            var e = doc.RootElement.GetProperty("lastVolfileError");
            if (e.ValueKind == JsonValueKind.Null) return false;
            err = e.Clone();
            return true;
        }, "the refused volfile to show in graft state");
        Assert.Equal(vol, err!.Value.GetProperty("file").GetString());
        Assert.Equal(badLine, err.Value.GetProperty("line").GetInt32());
        Assert.Contains("no/such-type", err.Value.GetProperty("message").GetString());
        await File.WriteAllTextAsync(v.P("still"), "works");
        Assert.Equal("works", await File.ReadAllTextAsync(Path.Combine(v.Brick, "still")));

        Proc.WriteVolfile(vol, good);
        await Proc.Until(() => (Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(v.Mnt), "state",
            TimeSpan.FromSeconds(5))).Contains("\"lastVolfileError\": null", StringComparison.Ordinal), "a good volfile to clear the error");
    }

    [MountFact]
    public async Task A_volfile_edit_switches_the_mount_to_a_new_graph_while_a_file_stays_open()
    {
        await using var v = await MountedVolume.UpAsync("volfile-switch");
        var vol = Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        var top = (await File.ReadAllLinesAsync(vol)).Last(l => l.StartsWith("volume ", StringComparison.Ordinal))["volume ".Length..];
        await using var open = new FileStream(v.P("f"), FileMode.Create, FileAccess.ReadWrite);
        open.Write("before "u8);
        open.Flush();

        // A new graph: one more write-behind over the same top. The daemon follows its volfile.
        Proc.WriteVolfile(vol, await File.ReadAllTextAsync(vol) +
            $"\nvolume wb\n    type performance/write-behind\n    subvolumes {top}\nend-volume\n");
        string State() => Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(v.Mnt), "state", TimeSpan.FromSeconds(5));
        await Proc.Until(() => State().Contains("\"activeGeneration\": 2", StringComparison.Ordinal), "the mount to switch to graph 2");

        open.Write("after"u8);   // the open file moves to the new graph on its next use
        open.Flush(flushToDisk: true);
        open.Position = 0;
        var buf = new byte[64];
        Assert.Equal("before after", System.Text.Encoding.ASCII.GetString(buf, 0, open.Read(buf)));
        Assert.Equal("before after", await File.ReadAllTextAsync(Path.Combine(v.Brick, "f")));
        using var doc = JsonDocument.Parse(State());
        Assert.Equal(1, doc.RootElement.GetProperty("counters").GetProperty("switches").GetInt64());
        Assert.True(doc.RootElement.GetProperty("counters").GetProperty("fdMigrations").GetInt64() >= 1);
    }

    [MountFact]
    public async Task Mistakes_get_clear_errors()
    {
        await using var v = await MountedVolume.UpAsync("errors");
        var vol = Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        var other = Path.Combine(v.Home, "other");
        Directory.CreateDirectory(other);

        var bad = await Proc.Graft(v.Home, "mount", "-o", "allow_other,bogus=1", "--volfile", vol, other);
        Assert.Equal(2, bad.Code);
        Assert.Contains("unknown mount option 'bogus'", bad.Err);

        var twice = await Proc.Graft(v.Home, "mount", "--volfile", vol, v.Mnt);
        Assert.Equal(1, twice.Code);
        Assert.Contains("already mounted", twice.Err);

        var up = await Proc.Graft(v.Home, "up", v.Brick, v.Mnt);
        Assert.Equal(1, up.Code);
        Assert.Contains("already up", up.Err);

        // A volfile whose brick does not answer: the daemon's own error, and nothing left mounted.
        var dead = Path.Combine(v.Home, "dead.vol");
        Proc.WriteVolfile(dead, "volume c\n    type protocol/client\n    option remote-port 1\n    option remote-subvolume x\nend-volume\n");
        var down = await Proc.Graft(v.Home, "mount", "--timeout", "2", "--volfile", dead, other);
        Assert.Equal(1, down.Code);
        Assert.Contains("did not come up", down.Err);
        Assert.False(Proc.IsMounted(other));

        // graft umount only unmounts graft mounts.
        (await Proc.RunAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "graft-test", other])).Ok("mount tmpfs");
        try
        {
            var foreign = await Proc.Graft(v.Home, "umount", other);
            Assert.Equal(1, foreign.Code);
            Assert.Contains("tmpfs mount, not a graft one", foreign.Err);
            Assert.True(Proc.IsMounted(other));
        }
        finally { await Proc.RunAsync("umount", [other]); }

        var broken = Path.Combine(v.Home, "broken.vol");
        Proc.WriteVolfile(broken, "volume c\n    type no/such\nend-volume\n");
        var parse = await Proc.Graft(v.Home, "mount", "--volfile", broken, other);
        Assert.Equal(1, parse.Code);
        Assert.Contains("broken.vol:2", parse.Err);
    }
}
