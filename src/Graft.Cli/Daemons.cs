using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Graft.Management.Bricks;
using Graft.Mount.Control;

namespace Graft.Cli;

/// <summary>
/// Starting graft's own daemons (mount, brick) detached from the terminal, finding them again and
/// stopping them: what `graft mount` (without -f), `umount`, `up` and `down` share.
/// </summary>
internal static class Daemons
{
    /// <summary>Where defaults live: $GRAFT_HOME (the ./graft wrapper sets it to the clone), else the current directory.</summary>
    public static string Home => Environment.GetEnvironmentVariable("GRAFT_HOME") is { Length: > 0 } h
        ? Path.GetFullPath(h) : Directory.GetCurrentDirectory();

    /// <summary>A file-name-safe name for a mount point: its absolute path with '/' turned into '-' (as systemd does).</summary>
    public static string Slug(string mountPoint) => Graft.Fuse.MountDaemon.Slug(FullPath(mountPoint));

    public static string FullPath(string p) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));

    /// <summary>Where a detached daemon's stdout and stderr go unless told otherwise.</summary>
    public static string DefaultLogDir =>
        Environment.GetEnvironmentVariable("GRAFT_HOME") is { Length: > 0 } ? Path.Combine(Home, "var", "log")
        : Environment.UserName == "root" ? "/var/log/graft"
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".graft", "log");

    /// <summary>
    /// Runs `graft ARGS` in a new session (no controlling terminal, so no SIGHUP when the shell goes),
    /// stdin from /dev/null, stdout and stderr appended to <paramref name="log"/>. The returned process is
    /// the daemon itself: sh and setsid exec into it, so its pid is the daemon's.
    /// </summary>
    public static Process StartDetached(string log, IEnumerable<string> args) =>
        Processes.StartDetached(log, [.. Processes.SelfCommand(typeof(Daemons).Assembly), .. args]);

    /// <summary>The log's current length, so that only what a new daemon writes is shown on failure.</summary>
    public static long LogLength(string log) => File.Exists(log) ? new FileInfo(log).Length : 0;

    /// <summary>What was appended to <paramref name="log"/> since <paramref name="from"/> (at most the last 4 KiB).</summary>
    public static string LogSince(string log, long from)
    {
        try
        {
            using var f = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(from, f.Length - 4096);
            f.Position = Math.Min(start, f.Length);
            return new StreamReader(f, Encoding.UTF8).ReadToEnd().TrimEnd();
        }
        catch (IOException) { return ""; }
    }

    /// <summary>The mount daemon's state JSON, or null if no daemon answers on the mount's control socket.</summary>
    public static string? QueryState(string mountPoint, TimeSpan timeout)
    {
        try { return ControlClient.Send(ControlClient.SocketPathFor(mountPoint), "state", timeout); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException) { return null; }
    }

    /// <summary>The metricsUrl in a state reply, or null.</summary>
    public static string? MetricsUrlOf(string? stateJson)
    {
        if (stateJson is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(stateJson);
            return doc.RootElement.TryGetProperty("metricsUrl", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>The pid in a state reply, or 0.</summary>
    public static int PidOf(string? stateJson)
    {
        if (stateJson is null) return 0;
        try
        {
            using var doc = JsonDocument.Parse(stateJson);
            return doc.RootElement.TryGetProperty("pid", out var p) && p.TryGetInt32(out var pid) ? pid : 0;
        }
        catch (JsonException) { return 0; }
    }

    /// <summary>
    /// The filesystem type mounted at <paramref name="mountPoint"/> ("fuse.graft" for ours), or null if nothing
    /// is: the last matching line of /proc/self/mountinfo, read without touching the mount itself (which
    /// may hang or answer ENOTCONN).
    /// </summary>
    public static string? MountTypeAt(string mountPoint)
    {
        var full = FullPath(mountPoint);
        string? type = null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var f = line.Split(' ');
            if (f.Length < 5 || f[4].Replace("\\040", " ", StringComparison.Ordinal) != full) continue;
            var dash = Array.IndexOf(f, "-", 5);
            type = dash > 0 && dash + 1 < f.Length ? f[dash + 1] : "";
        }
        return type;
    }

    public static bool Alive(int pid) => Processes.Alive(pid);

    /// <summary>The process's command line, NUL-separated arguments joined by spaces ("" if gone).</summary>
    public static string CommandLine(int pid) => Processes.CommandLine(pid);

    /// <summary>Waits (bounded, polling) until <paramref name="pid"/> is gone.</summary>
    public static bool WaitExit(int pid, TimeSpan bound)
    {
        var deadline = Stopwatch.StartNew();
        while (Alive(pid))
        {
            if (deadline.Elapsed > bound) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public const int SIGKILL = Processes.SIGKILL, SIGTERM = Processes.SIGTERM;

    public static bool Signal(int pid, int sig) => Processes.Signal(pid, sig);

    /// <summary>SIGTERM, a bounded wait, then SIGKILL and another bounded wait. True once the process is gone.</summary>
    public static bool Stop(int pid, TimeSpan grace)
    {
        if (!Alive(pid)) return true;
        Signal(pid, SIGTERM);
        if (WaitExit(pid, grace)) return true;
        Signal(pid, SIGKILL);
        return WaitExit(pid, TimeSpan.FromSeconds(10));
    }

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + "s";
}
