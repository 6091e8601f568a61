using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>A test on real mounts: needs root and /dev/fuse. Skipped only when CI is unset; in CI it must run.</summary>
internal sealed class MountFactAttribute : FactAttribute
{
    public MountFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) return;
        if (!File.Exists("/dev/fuse")) Skip = "needs /dev/fuse (runs in CI)";
        else if (Sys.geteuid() != 0) Skip = "needs root (runs in CI)";
    }
}

/// <summary>A theory on real mounts: the same rule as <see cref="MountFactAttribute"/>.</summary>
internal sealed class MountTheoryAttribute : TheoryAttribute
{
    public MountTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) return;
        if (!File.Exists("/dev/fuse")) Skip = "needs /dev/fuse (runs in CI)";
        else if (Sys.geteuid() != 0) Skip = "needs root (runs in CI)";
    }
}

internal static partial class Sys
{
    [LibraryImport("libc")] public static partial uint geteuid();
    [LibraryImport("libc", SetLastError = true)] public static partial int kill(int pid, int sig);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdir(string path, int mode);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int link(string oldpath, string newpath);
    [LibraryImport("libc", SetLastError = true)] public static partial int ftruncate(int fd, long length);
    public const int AT_FDCWD = -100, RENAME_NOREPLACE = 1;
    public const int O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200;
    public static int Errno => Marshal.GetLastPInvokeError();

    public const int SIGCONT = 18, SIGSTOP = 19;

    /// <summary>SIGSTOP, then wait (bounded) until every thread of <paramref name="pid"/> is really stopped: delivery is
    /// asynchronous (on a loaded machine a brick has answered a write a millisecond after kill returned).</summary>
    public static async Task FreezeAsync(int pid)
    {
        Assert.Equal(0, kill(pid, SIGSTOP));
        var deadline = Environment.TickCount64 + 5000;
        while (true)
        {
            bool all = true;
            foreach (var t in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                string stat;
                try { stat = File.ReadAllText(Path.Combine(t, "stat")); }
                catch (IOException) { continue; }   // a thread that just exited
                var state = stat[(stat.LastIndexOf(')') + 2)..][0];
                if (state is not ('T' or 't')) { all = false; break; }
            }
            if (all) return;
            Assert.True(Environment.TickCount64 < deadline, $"process {pid} did not stop after SIGSTOP");
            await Task.Delay(5);
        }
    }
}

/// <summary>Result of one command run to completion.</summary>
internal sealed record Run(int Code, string Out, string Err)
{
    public Run Ok(string what)
    {
        Assert.True(Code == 0, $"{what} failed ({Code}):\n{Out}\n{Err}");
        return this;
    }
}

/// <summary>Runs processes with a bound; a command that overruns it is killed and the test fails.</summary>
internal static class Proc
{
    public static string RepoRoot { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Graft.slnx")) && File.Exists(Path.Combine(d.FullName, "graft"))) return d.FullName;
        throw new InvalidOperationException("cannot find the clone above " + AppContext.BaseDirectory);
    }

    /// <summary>A private directory for one test under the clone's .graft/tmp (never bare /tmp: hung mounts there block walkers).
    /// 0755 whatever the umask: a mount daemon follows a volfile only in directories nobody else may write.</summary>
    public static string PrivateDir(string what)
    {
        var d = Path.Combine(RepoRoot, ".graft", "tmp", "e2e-mount", what + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d, global::Graft.Mount.Switching.TrustedVolfile.DirectoryMode);
        return d;
    }

    /// <summary>Writes a volfile a mount daemon may follow (0644 whatever the umask: a daemon refuses one others could write).</summary>
    public static void WriteVolfile(string path, string text) => global::Graft.Mount.Switching.TrustedVolfile.Write(path, text);

    public static async Task<Run> RunAsync(string file, IEnumerable<string> args, string? cwd = null,
        IDictionary<string, string>? env = null, double seconds = 120, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null,
            UseShellExecute = false, WorkingDirectory = cwd ?? RepoRoot,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (stdin is not null) { await p.StandardInput.WriteAsync(stdin); p.StandardInput.Close(); }
        try { await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(seconds)); }
        catch (TimeoutException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {seconds}s");
        }
        return new Run(p.ExitCode, await o, await e);
    }

    /// <summary>A shell command (bash -c) as root, or as another user with `setpriv`.</summary>
    public static Task<Run> Sh(string script, string? cwd = null, int? asUid = null, double seconds = 120)
    {
        if (asUid is int uid)
            return RunAsync("setpriv", [$"--reuid={uid}", $"--regid={uid}", "--clear-groups", "bash", "-c", script], cwd, seconds: seconds);
        return RunAsync("bash", ["-c", script], cwd, seconds: seconds);
    }

    /// <summary>The CLI built beside the tests (`dotnet graft.dll`), with defaults under <paramref name="home"/>.</summary>
    public static Task<Run> Graft(string home, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        return RunAsync("dotnet", [dll, .. args], env: new Dictionary<string, string> { ["GRAFT_HOME"] = home }, seconds: 180);
    }

    public static async Task Until(Func<bool> cond, string what, double seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        while (!cond())
        {
            Assert.True(sw.Elapsed.TotalSeconds < seconds, $"timed out after {seconds}s waiting for: {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// `graft umount MNT` (with defaults under <paramref name="home"/>), a lazy umount if that did not
    /// do it, and SIGKILL for the mount's daemon if it is still there: nothing of a test's mount stays.
    /// </summary>
    public static async Task UnmountAndStopAsync(string home, string mnt)
    {
        int? pid = null;
        try
        {
            var json = global::Graft.Mount.Control.ControlClient.Send(global::Graft.Mount.Control.ControlClient.SocketPathFor(mnt), "state", TimeSpan.FromSeconds(5));
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            pid = doc.RootElement.GetProperty("pid").GetInt32();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or System.Text.Json.JsonException) { }
        try { await Graft(home, "umount", mnt); } catch (TimeoutException) { }
        if (IsMounted(mnt)) await RunAsync("umount", ["-l", mnt], seconds: 30);
        if (pid is int p && Directory.Exists($"/proc/{p}")) Sys.kill(p, 9);
    }

    public static bool IsMounted(string dir)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            if (f.Length > 4 && f[4] == full) return true;
        }
        return false;
    }
}

/// <summary>
/// `graft up BRICK MNT` in a private directory: a real brick process, a real mount daemon, defaults
/// (pid files, volfile, logs) under that directory. Dispose runs `graft down` and, whatever it did,
/// makes sure nothing stays mounted or running.
/// </summary>
internal sealed class MountedVolume : IAsyncDisposable
{
    public string Home { get; }
    public string Brick => Path.Combine(Home, "brick");
    public string Mnt => Path.Combine(Home, "mnt");

    MountedVolume(string home) { Home = home; }

    public static async Task<MountedVolume> UpAsync(string what, params string[] mountOptions)
    {
        var v = new MountedVolume(Proc.PrivateDir(what));
        string[] args = mountOptions.Length > 0 ? ["up", v.Brick, v.Mnt, "-o", string.Join(',', mountOptions)] : ["up", v.Brick, v.Mnt];
        try { (await Proc.Graft(v.Home, args)).Ok("graft up"); }
        catch { await v.DisposeAsync(); throw; }
        return v;
    }

    public string P(params string[] parts) => Path.Combine([Mnt, .. parts]);

    public int DaemonPid()
    {
        var json = Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(Mnt), "state", TimeSpan.FromSeconds(5));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("pid").GetInt32();
    }

    /// <summary>The brick's pid, from the pid file `graft up` wrote.</summary>
    public int BrickPid() => int.Parse(File.ReadAllText(Directory.GetFiles(Path.Combine(Home, "var", "run"), "*.brick.pid").Single()).Trim(),
        System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One counter summed over the translators of the mount's active graph (their counters in `graft state`).</summary>
    public long TranslatorCounter(string name)
    {
        var json = Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(Mnt), "state", TimeSpan.FromSeconds(5));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var g = doc.RootElement.GetProperty("graphs").EnumerateArray().Single(g => g.GetProperty("state").GetString() == "active");
        long n = 0;
        foreach (var t in g.GetProperty("translators").EnumerateObject())
            if (t.Value.TryGetProperty(name, out var c)) n += c.GetInt64();
        return n;
    }

    /// <summary>Whether every graph of the mount has its children up (its brick connected).</summary>
    public bool ChildrenUp()
    {
        var json = Graft.Mount.Control.ControlClient.Send(Graft.Mount.Control.ControlClient.SocketPathFor(Mnt), "state", TimeSpan.FromSeconds(5));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("graphs").EnumerateArray().All(g => g.GetProperty("childUp").GetBoolean());
    }

    /// <summary>
    /// Kills the brick `graft up` started with SIGKILL and waits (bounded) until it is gone and the mount noticed.
    /// </summary>
    public async Task KillBrickAsync()
    {
        var pid = BrickPid();
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        await Proc.Until(() => !Directory.Exists($"/proc/{pid}"), "the brick is gone", seconds: 30);
        await Proc.Until(() => !ChildrenUp(), "the mount noticed the brick is gone", seconds: 30);
    }

    /// <summary>
    /// A new brick process on the same directory, name and port as the one `graft up` started (after
    /// <see cref="KillBrickAsync"/>); the caller disposes it. <paramref name="more"/>: further brick options.
    /// </summary>
    public Task<Network.BrickProcess> RestartBrickAsync(params string[] more)
    {
        var lines = File.ReadAllLines(Directory.GetFiles(Path.Combine(Home, "var", "run"), "*.vol").Single()).Select(l => l.Trim()).ToArray();
        string Opt(string name) => lines.Single(l => l.StartsWith("option " + name + " ", StringComparison.Ordinal)).Split(' ')[2];
        return Network.BrickProcess.StartAsync(["--dir", Brick, "--name", Opt("remote-subvolume"), "--port", Opt("remote-port"), "--listen", "127.0.0.1",
                                                  "--secret-file", Opt("secret-file"), .. more]);
    }

    public string Logs()
    {
        var sb = new StringBuilder();
        var dir = Path.Combine(Home, "var", "log");
        if (Directory.Exists(dir))
            foreach (var f in Directory.GetFiles(dir)) sb.Append("== ").AppendLine(f).AppendLine(File.ReadAllText(f));
        return sb.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        int? mountPid = null, brickPid = null;
        try { mountPid = DaemonPid(); } catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or System.Text.Json.JsonException) { }
        try { brickPid = BrickPid(); } catch (Exception e) when (e is IOException or InvalidOperationException or FormatException) { }
        try { await Proc.Graft(Home, "down", Mnt); }
        catch (TimeoutException) { }
        // Whatever `down` managed: nothing of this test may stay mounted or running.
        if (Proc.IsMounted(Mnt)) await Proc.RunAsync("umount", ["-l", Mnt], seconds: 30);
        foreach (var pid in new[] { mountPid, brickPid })
            if (pid is int p && Directory.Exists($"/proc/{p}")) Sys.kill(p, 9);
        try { Directory.Delete(Home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
