using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// The brick process keeps no descriptor for an object it made or removed: after 50,000
/// directories, symlinks and device nodes are made and removed through a mount, it holds fewer
/// than 100 descriptors of deleted objects, and a process on the mount can still have 15,000 files
/// open at once (RLIMIT_NOFILE is 20,000 on these machines, for the brick as for the test).
/// </summary>
public partial class BrickDescriptorsStayBounded(ITestOutputHelper output)
{
    private const int Churned = 50_000, OpenAtOnce = 15_000, Workers = 4, Batch = 500;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int mkdir(string path, uint mode);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int rmdir(string path);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int symlink(string target, string path);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int mknod(string path, uint mode, ulong dev);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int unlink(string path);

    /// <summary>The soft RLIMIT_NOFILE of a process, from /proc/PID/limits.</summary>
    private static long OpenFilesLimit(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var f = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return f[0] == "unlimited" ? long.MaxValue : long.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Descriptors a process holds, and how many of them are of deleted objects.</summary>
    private static (int Total, int Deleted) Descriptors(int pid)
    {
        int total = 0, deleted = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }   // closed meanwhile
            total++;
            if (target?.EndsWith(" (deleted)", StringComparison.Ordinal) == true) deleted++;
        }
        return (total, deleted);
    }

    private static void Check(int r, string what)
    {
        if (r != 0) throw new InvalidOperationException($"{what}: errno {Sys.Errno}");
    }

    /// <summary>Makes and removes <paramref name="count"/> objects in <paramref name="dir"/>, a batch at a time: a third each directories, symlinks and /dev/null-like device nodes.</summary>
    private static void Churn(string dir, int count)
    {
        Check(mkdir(dir, 0x1ed), "mkdir " + dir);
        for (int done = 0; done < count; done += Batch)
        {
            int n = Math.Min(Batch, count - done);
            for (int i = 0; i < n; i++)
            {
                var p = Path.Combine(dir, $"o{i}");
                Check(((done + i) % 3) switch
                {
                    0 => mkdir(p, 0x1ed),
                    1 => symlink("some/target", p),
                    _ => mknod(p, 0x2000 /* S_IFCHR */ | 0x1a4, (1 << 8) | 3),
                }, $"make {p} ({done + i})");
            }
            for (int i = 0; i < n; i++)
            {
                var p = Path.Combine(dir, $"o{i}");
                Check((done + i) % 3 == 0 ? rmdir(p) : unlink(p), $"remove {p} ({done + i})");
            }
        }
    }

    [MountFact]
    public async Task After_50000_objects_made_and_removed_the_brick_holds_under_100_deleted_descriptors_and_15000_files_open_at_once()
    {
        await using var v = await MountedVolume.UpAsync("brick-fds");
        int brick = v.BrickPid();
        long mine = OpenFilesLimit(Environment.ProcessId), theirs = OpenFilesLimit(brick);
        output.WriteLine($"RLIMIT_NOFILE: test {mine}, brick {theirs}");
        Assert.True(mine > OpenAtOnce + 500 && theirs > OpenAtOnce + 500,
            $"this test opens {OpenAtOnce} files at once: RLIMIT_NOFILE is {mine} here and {theirs} in the brick");
        var start = Descriptors(brick);

        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() => Churn(v.P($"churn{w}"), Churned / Workers))))
            .WaitAsync(TimeSpan.FromMinutes(5));
        var churned = Descriptors(brick);
        output.WriteLine($"{Churned} objects made and removed in {sw.Elapsed.TotalSeconds:0.0} s; brick descriptors {start.Total} → {churned.Total}, {churned.Deleted} of deleted objects");
        Assert.True(churned.Deleted < 100, $"the brick holds {churned.Deleted} descriptors of deleted objects");

        sw.Restart();
        var fds = new int[OpenAtOnce];
        Array.Fill(fds, -1);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() =>
            {
                Check(mkdir(v.P($"open{w}"), 0x1ed), "mkdir");
                for (int i = w; i < OpenAtOnce; i += Workers)
                {
                    fds[i] = Sys.open(v.P($"open{w}", $"f{i}"), Sys.O_RDWR | Sys.O_CREAT, 0x1a4);
                    if (fds[i] < 0) throw new InvalidOperationException($"open of file {i} failed: errno {Sys.Errno}");
                }
            }))).WaitAsync(TimeSpan.FromMinutes(5));
            var open = Descriptors(brick);
            output.WriteLine($"{OpenAtOnce} files open at once after {sw.Elapsed.TotalSeconds:0.0} s; brick descriptors {open.Total}");
        }
        finally
        {
            sw.Restart();
            foreach (var fd in fds) if (fd >= 0) Sys.close(fd);
            output.WriteLine($"closed in {sw.Elapsed.TotalSeconds:0.0} s");
        }
        // Releases reach the brick after close returns: it gives the descriptors back soon after.
        sw.Restart();
        await Proc.Until(() => Descriptors(brick).Total < start.Total + 100, "the brick closed the released files", seconds: 60);
        output.WriteLine($"released in {sw.Elapsed.TotalSeconds:0.0} s");
    }
}
