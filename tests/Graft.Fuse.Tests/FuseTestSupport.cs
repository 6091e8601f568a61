using System.Diagnostics;
using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>A test that needs root and /dev/fuse. Skipped only when CI is unset; in CI it must run.</summary>
sealed class FuseFactAttribute : FactAttribute
{
    public FuseFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) return;
        if (!File.Exists("/dev/fuse")) Skip = "needs /dev/fuse (runs in CI)";
        else if (Native.geteuid() != 0) Skip = "needs root (runs in CI)";
    }
}

static partial class Native
{
    [LibraryImport("libc")] public static partial uint geteuid();
    [LibraryImport("libc", SetLastError = true)] public static partial int kill(int pid, int sig);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int access(string path, int mode);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint lgetxattr(string path, string name, Span<byte> value, nuint size);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lsetxattr(string path, string name, ReadOnlySpan<byte> value, nuint size, int flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);
    public const int AT_FDCWD = -100, O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80;
    public static int Errno => Marshal.GetLastPInvokeError();
}

/// <summary>A MemoryFs mounted in a private directory; Dispose always unmounts and removes the directory.</summary>
sealed class TestMount : IDisposable
{
    public string Root { get; }
    public string Dir { get; }
    public MemoryFs Fs { get; }
    public FuseSession Session { get; }

    TestMount(string root, string dir, MemoryFs fs, FuseSession session)
    {
        Root = root;
        Dir = dir;
        Fs = fs;
        Session = session;
    }

    public static async Task<TestMount> StartAsync(FuseMountOptions? options = null, MemoryFs? fs = null)
    {
        string root = Path.Combine(PrivateTemp(), Guid.NewGuid().ToString("N"));
        string dir = Path.Combine(root, "mnt");
        Directory.CreateDirectory(dir);
        fs ??= new MemoryFs();
        var result = await FuseSession.MountAsync(dir, fs, options ?? new FuseMountOptions { Readers = 2 });
        if (!result.Ok)
        {
            Directory.Delete(root, true);
            throw new InvalidOperationException($"mount failed: {result.Error}");
        }
        return new TestMount(root, dir, fs, result.Value);
    }

    public string P(string name) => Path.Combine(Dir, name);

    /// <summary>Mounts go under the clone's .graft/tmp (not /tmp, which background jobs walk and a hung
    /// mount would block); GRAFT_TEST_TMP overrides.</summary>
    internal static string PrivateTemp()
    {
        if (Environment.GetEnvironmentVariable("GRAFT_TEST_TMP") is { Length: > 0 } env) return Path.Combine(env, "fuse-tests");
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Directory.Packages.props")))
                return Path.Combine(d.FullName, ".graft", "tmp", "fuse-tests");
        return Path.Combine(Path.GetTempPath(), "graft-fuse-tests");
    }

    /// <summary>Runs file operations on the mount with a bound. A hung mount would block the calling thread
    /// forever, so on timeout the connection is aborted (which frees every waiter) and the test fails.</summary>
    public async Task<T> Io<T>(Func<T> body, double seconds = 30)
    {
        var task = Task.Run(body);
        try { return await task.WaitAsync(TimeSpan.FromSeconds(seconds)); }
        catch (TimeoutException)
        {
            Session.Abort();
            throw;
        }
    }

    public Task Io(Action body, double seconds = 30) => Io(() => { body(); return 0; }, seconds);

    public void Dispose()
    {
        Session.Dispose();
        if (FuseMount.FindDevice(Dir) is not null) FuseMount.Unmount(Dir);
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }

    /// <summary>Runs a shell command with a bound; returns (exit code, stdout).</summary>
    public static async Task<(int Code, string Out)> Sh(string command, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException(command); }
        return (p.ExitCode, await stdout + await stderr);
    }
}

static class Bounded
{
    /// <summary>Waits for <paramref name="task"/> or fails the test after <paramref name="seconds"/>.</summary>
    public static Task<T> Within<T>(this Task<T> task, double seconds = 10) => task.WaitAsync(TimeSpan.FromSeconds(seconds));

    public static Task Within(this Task task, double seconds = 10) => task.WaitAsync(TimeSpan.FromSeconds(seconds));
}
