using System.Globalization;
using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount.Control;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// A mount daemon killed with SIGKILL while its processes hold locks never says goodbye: the brick
/// keeps its session (and so its locks) for its grace-timeout, in case it reconnects, and then
/// lets them go, so other mounts are not locked out for ever.
/// </summary>
public class LocksOfAVanishedMount
{
    [MountFact]
    public async Task Locks_of_a_killed_mount_go_when_the_bricks_grace_passes_and_a_waiter_on_another_mount_gets_them()
    {
        var home = Proc.PrivateDir("lock-vanished");
        var brickDir = Path.Combine(home, "brick");
        string mnt1 = Path.Combine(home, "mnt1"), mnt2 = Path.Combine(home, "mnt2");
        foreach (var d in new[] { brickDir, mnt1, mnt2 }) Directory.CreateDirectory(d);
        var brick = await BrickProcess.ServeDirAsync(brickDir, 0, "--name", "b", "--grace-timeout", "3s");
        var volfile = Path.Combine(home, "client.vol");
        Proc.WriteVolfile(volfile, string.Create(CultureInfo.InvariantCulture,
            $"volume b-client\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {brick.Port}\n    option remote-subvolume b\n    option secret-file {TestSecret.File}\nend-volume\n"));
        int? daemon1 = null;
        try
        {
            foreach (var mnt in new[] { mnt1, mnt2 })
                (await Proc.Graft(home, "mount", "--log", Path.Combine(home, Path.GetFileName(mnt) + ".log"), "--volfile", volfile, mnt)).Ok("graft mount " + mnt);
            using (var doc = JsonDocument.Parse(ControlClient.Send(ControlClient.SocketPathFor(mnt1), "state", TimeSpan.FromSeconds(5))))
                daemon1 = doc.RootElement.GetProperty("pid").GetInt32();

            await using var a = await LockProcess.StartAsync("A");
            await using var b = await LockProcess.StartAsync("B");
            await a.ExpectAsync($"open f {Path.Combine(mnt1, "db")} rwc", "ok");
            await a.ExpectAsync("fcntl f setlk w 0 0", "ok");
            await b.ExpectAsync($"open f {Path.Combine(mnt2, "db")} rw", "ok");
            await b.ExpectAsync("fcntl f setlk r 0 1", "err EAGAIN");
            var granted = b.BeginAsync("fcntl f setlkw w 0 0");

            Sys.kill(daemon1.Value, 9);  // no goodbye: the brick sees a connection drop
            var killed = System.Diagnostics.Stopwatch.StartNew();
            // Held for the brick's grace (the mount could still come back), then released.
            Assert.Equal("ok", await granted.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(killed.Elapsed >= TimeSpan.FromSeconds(2), $"the lock was free {killed.Elapsed.TotalSeconds:0.0} s after the kill, inside the 3 s grace");
            await b.ExpectAsync("fcntl f getlk w 0 0", "unlocked");
        }
        finally
        {
            foreach (var mnt in new[] { mnt1, mnt2 })
            {
                try { await Proc.Graft(home, "umount", mnt); } catch (TimeoutException) { }
                if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
            }
            if (daemon1 is int p && Directory.Exists($"/proc/{p}")) Sys.kill(p, 9);
            await brick.DisposeAsync();
            if (!Proc.IsMounted(mnt1) && !Proc.IsMounted(mnt2))
                try { Directory.Delete(home, recursive: true); } catch (IOException) { }
        }
    }
}
