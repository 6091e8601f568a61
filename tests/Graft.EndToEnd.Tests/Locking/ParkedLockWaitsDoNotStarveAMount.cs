using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount.Control;
using Graft.Xlators.Tests.Protocol;
using Xunit.Abstractions;

namespace Graft.EndToEnd.Tests.Locking;

/// <summary>
/// 2,000 F_SETLKW calls parked on the brick from one mount — more than a connection's request
/// slots — while another process on the same mount keeps appending and fsyncing for 60 s: the
/// mount is never disconnected (its pings are answered), the I/O sees no error, and once the
/// holder lets go every parked call is granted and everything is released. The brick's
/// max-lock-waits-per-session is 2,000 here, so one more wait is refused (ENOLCK, logged): that
/// is how the test knows all 2,000 are parked on the brick itself.
/// </summary>
public class ParkedLockWaitsDoNotStarveAMount(ITestOutputHelper output)
{
    private const int Parked = 2000;
    private static readonly TimeSpan IoWindow = TimeSpan.FromSeconds(60);

    private static JsonElement State(string mnt)
    {
        using var doc = JsonDocument.Parse(ControlClient.Send(ControlClient.SocketPathFor(mnt), "state", TimeSpan.FromSeconds(5)));
        return doc.RootElement.Clone();
    }

    private static long FopsInFlight(string mnt) => State(mnt).GetProperty("graphs")[0].GetProperty("fopsInFlight").GetInt64();

    [MountFact]
    public async Task Two_thousand_parked_setlkws_leave_a_process_on_the_same_mount_doing_io_for_60_s_without_an_error()
    {
        var home = Proc.PrivateDir("parked-locks");
        var brickDir = Path.Combine(home, "brick");
        var mnt = Path.Combine(home, "mnt");
        foreach (var d in new[] { brickDir, mnt }) Directory.CreateDirectory(d);
        var brick = await BrickProcess.ServeDirAsync(brickDir, 0, "--name", "b", "--max-lock-waits-per-session", Parked.ToString(CultureInfo.InvariantCulture));
        // A short ping-timeout: a brick that stops reading this connection would be dropped within seconds.
        var volfile = Path.Combine(home, "client.vol");
        File.WriteAllText(volfile, string.Create(CultureInfo.InvariantCulture,
            $"volume b-client\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {brick.Port}\n    option remote-subvolume b\n    option ping-timeout 3\n    option secret-file {TestSecret.File}\nend-volume\n"));
        var stop = Path.Combine(home, "stop");
        Process? appender = null;
        try
        {
            (await Proc.Graft(home, "mount", "--log", Path.Combine(home, "mount.log"), "--volfile", volfile, mnt)).Ok("graft mount");
            await using var holder = await LockProcess.StartAsync("holder");
            await using var parker = await LockProcess.StartAsync("parker");
            await holder.ExpectAsync($"open f {Path.Combine(mnt, "db")} rwc", "ok");
            await holder.ExpectAsync("fcntl f setlk w 0 0", "ok");
            await parker.ExpectAsync($"open f {Path.Combine(mnt, "db")} rw", "ok");

            var parking = Stopwatch.StartNew();
            await parker.ExpectAsync($"park f {Parked} 0", "ok");
            // A call is in flight on the mount's graph once it has been sent to the brick (nothing else is running).
            await Proc.Until(() => FopsInFlight(mnt) == Parked, $"{Parked} lock waits sent to the brick", seconds: 60);
            // Sent after them on the same connection, so the brick reads it after all of them: with 2,000
            // of this session's waits parked there, it is refused at once.
            await parker.ExpectAsync("fcntl f setlkw w 5000 1", "err ENOLCK");
            await brick.WaitForLogAsync("max-lock-waits-per-session");
            output.WriteLine($"{Parked} waits parked on the brick after {parking.Elapsed.TotalSeconds:0.0} s");

            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { LockProcess.Tool, "append", Path.Combine(mnt, "log"), "1", stop, "4" }) psi.ArgumentList.Add(a);
            appender = Process.Start(psi)!;
            Assert.Equal("ready", await appender.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)));

            // The other process's I/O keeps going for the whole window: the file grows between samples.
            var brickLog = Path.Combine(brickDir, "log");
            long last = File.Exists(brickLog) ? new FileInfo(brickLog).Length : 0;
            var window = Stopwatch.StartNew();
            while (window.Elapsed < IoWindow)
            {
                await Task.Delay(TimeSpan.FromSeconds(5));
                if (appender.HasExited) Assert.Fail("the appender stopped: " + await appender.StandardError.ReadToEndAsync());
                long now = new FileInfo(brickLog).Length;
                Assert.True(now > last, $"no I/O reached the brick in 5 s at {window.Elapsed.TotalSeconds:0} s");
                last = now;
            }
            Assert.Equal($"granted 0 failed 0", await parker.SendAsync("parked"));

            File.WriteAllText(stop, "");
            await appender.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var said = (await appender.StandardOutput.ReadToEndAsync()).Trim();
            Assert.True(appender.ExitCode == 0, "the appender failed: " + await appender.StandardError.ReadToEndAsync());
            var records = int.Parse(said.Split(' ')[^1], CultureInfo.InvariantCulture);
            var check = await Proc.RunAsync("dotnet", [LockProcess.Tool, "check", Path.Combine(mnt, "log"), "1", records.ToString(CultureInfo.InvariantCulture)], seconds: 60);
            Assert.True(check.Code == 0, check.Err);
            output.WriteLine($"{records} records appended and fsynced while the waits were parked");

            // Let go: every parked call is granted, and once the parker is gone nothing is left held.
            await holder.ExpectAsync("fcntl f setlk u 0 0", "ok");
            var deadline = Stopwatch.StartNew();
            string parked;
            while ((parked = await parker.SendAsync("parked")) != $"granted {Parked} failed 0")
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"not every wait was granted: {parked}");
                await Task.Delay(50);
            }
            parker.Kill();
            Assert.True(await parker.ExitedWithinAsync(30), "the parker did not exit");
            await Proc.Until(() => FopsInFlight(mnt) == 0, "nothing in flight on the mount", seconds: 30);
            await holder.ExpectAsync("fcntl f getlk w 0 0", "unlocked");
            Assert.Contains(State(mnt).GetProperty("graphs").EnumerateArray(), g => g.GetProperty("childUp").GetBoolean());
        }
        finally
        {
            File.WriteAllText(stop, "");
            if (appender is not null) { if (!appender.HasExited) appender.Kill(); appender.Dispose(); }
            try { await Proc.Graft(home, "umount", mnt); } catch (TimeoutException) { }
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
            await brick.DisposeAsync();
            if (!Proc.IsMounted(mnt)) try { Directory.Delete(home, recursive: true); } catch (IOException) { }
        }
    }
}
