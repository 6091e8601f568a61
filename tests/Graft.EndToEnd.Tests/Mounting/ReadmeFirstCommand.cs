namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// The README's first command, verbatim: `./graft up` brings up a single-node volume (a brick process,
/// a volfile pointing at it over loopback, a mount) on defaults; `./graft down` undoes it. GRAFT_HOME
/// (which ./graft otherwise sets to the clone) points the defaults at a private directory, so the test
/// never touches a developer's own var/.
/// </summary>
public class ReadmeFirstCommand
{
    [MountFact]
    public async Task Graft_up_mounts_a_usable_volume_and_graft_down_undoes_it()
    {
        var home = Proc.PrivateDir("readme");
        var env = new Dictionary<string, string> { ["GRAFT_HOME"] = home };
        var mnt = Path.Combine(home, "var", "mnt");
        var brick = Path.Combine(home, "var", "brick");
        try
        {
            // ./graft builds the CLI on first use, so this can take a while on a fresh clone.
            var up = await Proc.RunAsync("./graft", ["up"], env: env, seconds: 600);
            up.Ok("./graft up");
            Assert.True(Proc.IsMounted(mnt), $"{mnt} not mounted after ./graft up:\n{up.Out}{up.Err}");
            var pidFile = Assert.Single(Directory.GetFiles(Path.Combine(home, "var", "run"), "*.brick.pid"));
            var brickPid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);

            // Use it: through the mount into the brick directory, and back.
            await File.WriteAllTextAsync(Path.Combine(mnt, "hello.txt"), "hello, graft\n");
            Assert.Equal("hello, graft\n", await File.ReadAllTextAsync(Path.Combine(brick, "hello.txt")));
            var sh = (await Proc.Sh($"cd '{mnt}' && mkdir d && cp hello.txt d/copy && cat d/copy && ls d")).Ok("shell tools");
            Assert.Equal(["hello, graft", "copy"], sh.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            var state = (await Proc.RunAsync("./graft", ["state", mnt], env: env)).Ok("./graft state");
            Assert.Contains("\"activeGeneration\": 1", state.Out);

            var again = await Proc.RunAsync("./graft", ["up"], env: env, seconds: 120);
            Assert.NotEqual(0, again.Code);
            Assert.Contains("already up", again.Err);

            (await Proc.RunAsync("./graft", ["down"], env: env, seconds: 120)).Ok("./graft down");
            Assert.False(Proc.IsMounted(mnt), "still mounted after ./graft down");
            await Proc.Until(() => !Directory.Exists($"/proc/{brickPid}"), "the brick process to exit", 20);
            Assert.False(File.Exists(pidFile), "pid file left behind");
            Assert.Equal("hello, graft\n", await File.ReadAllTextAsync(Path.Combine(brick, "hello.txt")));
        }
        finally
        {
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("./graft", ["down"], env: env, seconds: 120);
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt]);
            foreach (var f in Directory.Exists(Path.Combine(home, "var", "run")) ? Directory.GetFiles(Path.Combine(home, "var", "run"), "*.pid") : [])
                if (int.TryParse(File.ReadAllText(f).Trim(), out var pid) && Directory.Exists($"/proc/{pid}")) Sys.kill(pid, 9);
            try { Directory.Delete(home, true); } catch (IOException) { }
        }
    }
}
