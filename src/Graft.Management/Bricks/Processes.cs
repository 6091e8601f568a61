using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Graft.Management.Bricks;

/// <summary>
/// Graft's own daemons as processes: started detached (their own session, output to a log), found
/// again by pid, checked for being what we think they are, signalled. Shared by the management daemon
/// (bricks) and the CLI (`graft up`, `mount`).
/// </summary>
public static partial class Processes
{
    /// <summary>
    /// Runs <paramref name="command"/> in a new session (no controlling terminal), stdin from /dev/null,
    /// stdout and stderr appended to <paramref name="log"/>. sh and setsid exec into the command, so the
    /// returned process's pid is the command's own.
    /// </summary>
    public static Process StartDetached(string log, IEnumerable<string> command)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("log=$1; shift; exec setsid \"$@\" </dev/null >>\"$log\" 2>&1");
        psi.ArgumentList.Add("graft-detach");
        psi.ArgumentList.Add(log);
        foreach (var a in command) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start /bin/sh");
    }

    /// <summary>How to run this very CLI again: the apphost, or `dotnet graft.dll`.</summary>
    public static IReadOnlyList<string> SelfCommand(System.Reflection.Assembly cli)
    {
        var exe = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(exe) == "dotnet" ? [exe, cli.Location] : [exe];
    }

    public static bool Alive(int pid) => pid > 0 && Directory.Exists($"/proc/{pid}") && !IsZombie(pid);

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z';
        }
        catch (IOException) { return false; }
    }

    /// <summary>The process's arguments ([] if gone).</summary>
    public static string[] Arguments(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Split('\0'); }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    /// <summary>The process's command line, arguments joined by spaces ("" if gone).</summary>
    public static string CommandLine(int pid) => string.Join(' ', Arguments(pid)).Trim();

    public const int SIGKILL = 9, SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int sig);

    public static bool Signal(int pid, int sig) => KillNative(pid, sig) == 0;

    /// <summary>Waits (bounded, polling) until <paramref name="pid"/> is gone.</summary>
    public static async Task<bool> WaitExitAsync(int pid, TimeSpan bound, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        while (Alive(pid))
        {
            if (sw.Elapsed > bound) return false;
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>SIGTERM, a bounded wait, then SIGKILL and another bounded wait. True once the process is gone.</summary>
    public static async Task<bool> StopAsync(int pid, TimeSpan grace)
    {
        if (!Alive(pid)) return true;
        Signal(pid, SIGTERM);
        if (await WaitExitAsync(pid, grace).ConfigureAwait(false)) return true;
        Signal(pid, SIGKILL);
        return await WaitExitAsync(pid, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }
}
