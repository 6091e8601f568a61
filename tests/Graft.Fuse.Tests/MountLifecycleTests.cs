using System.Diagnostics;
using Graft.Core;
using FileMode = System.IO.FileMode;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>Unmounting with files open detaches the mount; the open files keep working until closed.</summary>
public class UnmountWithOpenFiles
{
    [FuseFact]
    public async Task Unmount_while_a_file_is_open_detaches_and_the_session_ends_when_it_closes()
    {
        using var m = await TestMount.StartAsync();
        var stream = await m.Io(() =>
        {
            File.WriteAllText(m.P("open"), "still here");
            return new FileStream(m.P("open"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 0);
        });
        try
        {
            Assert.Equal(Errno.OK, m.Session.Unmount());
            Assert.Null(FuseMount.FindDevice(m.Dir)); // gone from the namespace at once
            Assert.False(m.Session.Completion.IsCompleted); // but still served for the open file
            var text = await m.Io(() =>
            {
                var buf = new byte[64];
                int n = stream.Read(buf);
                return System.Text.Encoding.UTF8.GetString(buf, 0, n);
            });
            Assert.Equal("still here", text);
        }
        finally
        {
            await m.Io(stream.Dispose);
        }
        await m.Session.Completion.Within(10);
    }
}

/// <summary>When the daemon's connection dies, callers get ENOTCONN and the mount can still be unmounted.</summary>
public class DaemonDeath
{
    [FuseFact]
    public async Task A_dead_connection_gives_ENOTCONN_and_can_be_unmounted()
    {
        using var m = await TestMount.StartAsync();
        await m.Io(() => File.WriteAllText(m.P("f"), "x"));
        Assert.Equal(Errno.OK, m.Session.Abort());
        await m.Session.Completion.Within(10);
        var err = await m.Io(() => Native.access(m.P("f"), 0) == 0 ? Errno.OK : (Errno)Native.Errno);
        Assert.Equal(Errno.ENOTCONN, err);
        Assert.NotNull(FuseMount.FindDevice(m.Dir));
        Assert.Equal(Errno.OK, m.Session.Unmount());
        Assert.Null(FuseMount.FindDevice(m.Dir));
    }
}

/// <summary>A signal to a caller blocked in a request INTERRUPTs it: the handler's token is cancelled, it
/// answers EINTR, and the caller is freed.</summary>
public class InterruptOfABlockedRequest
{
    [FuseFact]
    public async Task Killing_a_blocked_cat_cancels_the_handler_token()
    {
        using var m = await TestMount.StartAsync();
        await m.Io(() => File.WriteAllText(m.P("block"), "never read"));
        var psi = new ProcessStartInfo("cat", m.P("block")) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var cat = Process.Start(psi)!;
        try
        {
            // The bounds only keep a hang from hanging the suite: they include starting cat, and handlers that run
            // on a thread pool a loaded machine starves for seconds (10 s ran out at load 28). What is asserted
            // is the order: blocked, then interrupted (EINTR, not the handler's own 30 s ETIMEDOUT), then freed.
            await m.Fs.BlockedOpen.Task.Within(60);
            Assert.False(cat.HasExited);
            Assert.Equal(0, Native.kill(cat.Id, 2 /* SIGINT */));
            Assert.Equal(Errno.OK, await m.Fs.BlockedOpenReplied.Task.Within(60));
            Assert.Equal(1, m.Fs.Interrupted);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await cat.WaitForExitAsync(cts.Token);
            Assert.NotEqual(0, cat.ExitCode);
        }
        finally
        {
            if (!cat.HasExited) cat.Kill();
        }
        Assert.Equal(0, m.Session.InFlight);
    }
}

/// <summary>Mounting through fusermount3 (the unprivileged path) works too.</summary>
public class FusermountHandshake
{
    [FuseFact]
    public async Task Mount_through_fusermount3_serves_files_and_unmounts()
    {
        if (!File.Exists("/usr/bin/fusermount3") && !File.Exists("/bin/fusermount3"))
        {
            Assert.Fail("fusermount3 is not installed (package fuse3)");
        }
        using var m = await TestMount.StartAsync(new FuseMountOptions { UseFusermount = true, Readers = 1 });
        await m.Io(() => File.WriteAllText(m.P("f"), "via fusermount3"));
        Assert.Equal("via fusermount3", await m.Io(() => File.ReadAllText(m.P("f"))));
        Assert.Equal(Errno.OK, m.Session.Unmount());
        await m.Session.Completion.Within(10);
        Assert.Null(FuseMount.FindDevice(m.Dir));
    }
}

/// <summary>read_ahead_kb is raised through sysfs after INIT (INIT itself can only lower it).</summary>
public class ReadAheadOption
{
    [FuseFact]
    public async Task Read_ahead_kb_is_applied_to_the_mounts_bdi()
    {
        using var m = await TestMount.StartAsync(new FuseMountOptions { ReadAheadKb = 1024 });
        var dev = FuseMount.FindDevice(m.Dir)!.Value;
        Assert.Equal(0u, dev.Major);
        Assert.Equal(m.Session.DeviceMinor, dev.Minor);
        Assert.Equal("1024", File.ReadAllText($"/sys/class/bdi/0:{dev.Minor}/read_ahead_kb").Trim());
    }
}
