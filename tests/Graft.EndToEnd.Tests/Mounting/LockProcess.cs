using System.Diagnostics;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A separate process that takes locks when told to (Graft.TestTools `lock`): POSIX locks belong
/// to processes, so a test pits several of these against each other. Every answer is awaited
/// with a bound; disposing kills the process (its locks go with it).
/// </summary>
internal sealed class LockProcess : IAsyncDisposable
{
    private readonly Process _p;
    private readonly string _name;

    private LockProcess(Process p, string name, int pid) { _p = p; _name = name; Pid = pid; }

    /// <summary>The process id, as F_GETLK reports it for this process's locks.</summary>
    public int Pid { get; }

    /// <summary>Graft.TestTools (appender, checker, locker), built beside the tests in the same configuration.</summary>
    public static string Tool
    {
        get
        {
            var cfgDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')); // .../bin/<Config>/net10.0
            var path = Path.Combine(Proc.RepoRoot, "tests", "Graft.TestTools", "bin", cfgDir.Parent!.Name, cfgDir.Name, "Graft.TestTools.dll");
            Assert.True(File.Exists(path), $"{path} is not built");
            return path;
        }
    }

    public static async Task<LockProcess> StartAsync(string name = "locker")
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Tool);
        psi.ArgumentList.Add("lock");
        var p = Process.Start(psi)!;
        var ready = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(ready is not null && ready.StartsWith("ready ", StringComparison.Ordinal), $"{name}: {ready}");
        return new LockProcess(p, name, int.Parse(ready["ready ".Length..]));
    }

    /// <summary>Sends one command and returns its answer line (bounded).</summary>
    public async Task<string> SendAsync(string command, double seconds = 30) => await BeginAsync(command).WaitAsync(TimeSpan.FromSeconds(seconds));

    /// <summary>
    /// Sends a command that may block (setlkw, blocking flock) and returns the pending answer; the
    /// caller awaits it with its own bound.
    /// </summary>
    public async Task<string> BeginAsync(string command)
    {
        await _p.StandardInput.WriteLineAsync(command);
        await _p.StandardInput.FlushAsync();
        var line = await _p.StandardOutput.ReadLineAsync();
        return line ?? $"{_name} exited ({(await _p.StandardError.ReadToEndAsync()).Trim()})";
    }

    /// <summary>Sends a command and asserts its answer.</summary>
    public async Task ExpectAsync(string command, string answer, double seconds = 30)
        => Assert.Equal(answer, await SendAsync(command, seconds));

    /// <summary>Waits (bounded) until a write request that conflicts with [start, start+len) is queued on the
    /// brick: until this process's read lock there, through <paramref name="fd"/>, is refused (the queue is fair,
    /// so a byte nobody holds is refused only because a queued writer wants it first). A probe lock that is
    /// granted meanwhile is given back at once.</summary>
    public async Task WaitUntilWriterQueuedAsync(string fd, long start, long len, double seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var answer = await SendAsync($"fcntl {fd} setlk r {start} {len}");
            if (answer == "err EAGAIN") return;
            Assert.Equal("ok", answer);
            await ExpectAsync($"fcntl {fd} setlk u {start} {len}", "ok");
            Assert.True(sw.Elapsed.TotalSeconds < seconds, $"no waiting writer showed on [{start}, +{len}) within {seconds}s");
            await Task.Delay(20);
        }
    }

    /// <summary>Kills the process (SIGKILL): the kernel closes its files, and so releases its locks.</summary>
    public void Kill()
    {
        try { _p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    /// <summary>Whether the process has ended within <paramref name="seconds"/> (a process killed while blocked
    /// in a FUSE request ends only once that request is answered).</summary>
    public async Task<bool> ExitedWithinAsync(double seconds)
    {
        try { await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(seconds)); return true; }
        catch (TimeoutException) { return false; }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try { await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)); } catch (TimeoutException) { }
        _p.Dispose();
    }
}
