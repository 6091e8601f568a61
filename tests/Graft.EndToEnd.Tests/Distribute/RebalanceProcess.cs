using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Graft.Client;
using Graft.Core;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Xlators.Cluster.Distribute;
using Graft.Xlators.Storage.Posix;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>
/// `graft rebalance` as a real child process: its output read line by line as it comes (the JSON progress
/// objects parsed), signals sent to it, its exit awaited with a bound. Disposing kills it if it still runs.
/// </summary>
internal sealed class RebalanceProcess : IAsyncDisposable
{
    private readonly Process _p;
    private readonly ConcurrentQueue<string> _out = new(), _err = new();

    private RebalanceProcess(Process p) { _p = p; }

    public int Pid => _p.Id;

    public static RebalanceProcess Start(string home, string volfile, params string[] more)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "graft.dll"), "rebalance", "--volfile", volfile }.Concat(more)) psi.ArgumentList.Add(a);
        psi.Environment["GRAFT_HOME"] = home;
        var p = Process.Start(psi)!;
        var r = new RebalanceProcess(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) r._out.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) r._err.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return r;
    }

    public IReadOnlyList<string> Out => [.. _out];
    public string Err => string.Join('\n', _err);

    /// <summary>The last JSON progress object printed so far, or null.</summary>
    public JsonElement? LastProgress()
    {
        var last = _out.LastOrDefault(l => l.StartsWith('{'));
        return last is null ? null : JsonDocument.Parse(last).RootElement.Clone();
    }

    /// <summary>Waits (bounded) for the process to end; returns its exit code, output and error.</summary>
    public async Task<Run> WaitAsync(double seconds = 120)
    {
        try { await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(seconds)); }
        catch (TimeoutException) { throw new TimeoutException($"graft rebalance did not finish within {seconds}s:\n{string.Join('\n', Out)}\n{Err}"); }
        _p.WaitForExit(); // the output's last lines
        return new Run(_p.ExitCode, string.Join('\n', Out), Err);
    }

    public void Signal(int sig) => Assert.Equal(0, Sys.kill(_p.Id, sig));

    public async ValueTask DisposeAsync()
    {
        if (!_p.HasExited) { try { _p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
        await _p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _p.Dispose();
    }
}

/// <summary>What tests of moving files ask of a distributed mount's bricks and names.</summary>
internal static class Moves
{
    /// <summary>
    /// A name whose hash falls in subvolume <paramref name="index"/>'s share of an even split over
    /// <paramref name="of"/> subvolumes (as fix-layout writes it).
    /// </summary>
    public static string NameHashedTo(int index, int of, string prefix = "file")
    {
        var layout = new Layout([.. Layout.Fresh(of, [.. Enumerable.Range(0, of)], 1, settled: false).Select(e => (LayoutEntry?)e)]);
        for (int k = 0; ; k++)
            if (layout.Search(DhtHash.OfName($"{prefix}{k}")) == index) return $"{prefix}{k}";
    }

    /// <summary>Whether a brick (seen through a library volume of its own) has <paramref name="path"/> marked by a move now.</summary>
    public static async Task<bool> MarkedAsync(Volume brick, string path)
    {
        try { return (await brick.GetXattrAsync(path, PosixTranslator.MigratingXattr)).Length > 0; }
        catch (GraftIOException e) when (e.Errno is Errno.ENODATA or Errno.ENOENT) { return false; }
    }

    public static async Task UntilAsync(Func<Task<bool>> cond, string what, double seconds)
    {
        var sw = Stopwatch.StartNew();
        while (!await cond())
        {
            Assert.True(sw.Elapsed.TotalSeconds < seconds, $"timed out after {seconds}s waiting for: {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Whether a file on a brick is a link pointer (the linkto xattr).</summary>
    public static bool IsPointer(string brickFile) => Xattr.Get(brickFile, Linkfile.Xattr) is not null;

    /// <summary>
    /// Checks every brick's copy of <paramref name="dir"/>: no move is half done (no mark, no retired source left,
    /// no pointer holding data), and each file that holds data is on the brick its name hashes to, unless
    /// it is one of <paramref name="allowedElsewhere"/>.
    /// </summary>
    public static void AssertSettledOnBricks(DistributedMount m, string dir, int bricks, ICollection<string>? allowedElsewhere = null)
    {
        var layout = new Layout([.. Enumerable.Range(0, bricks).Select(i => Xattr.Get(m.On(i, dir), Layout.Xattr) is { } b && LayoutEntry.TryParse(b, out var e) ? e : (LayoutEntry?)null)]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < bricks; i++)
            foreach (var f in Directory.GetFiles(m.On(i, dir)))
            {
                var name = Path.GetFileName(f);
                Assert.Null(Xattr.Get(f, PosixTranslator.MigratedXattr));
                Assert.Null(Xattr.Get(f, PosixTranslator.MigratingXattr));
                if (IsPointer(f)) { Assert.Equal(0, new FileInfo(f).Length); continue; }
                Assert.True(seen.Add(name), $"{dir}/{name} holds data on two bricks");
                if (allowedElsewhere?.Contains(name) == true) continue;
                Assert.True(layout.Search(DhtHash.OfName(name)) == i, $"{dir}/{name} is on b{i}, not where its name hashes");
            }
    }

    /// <summary>Files of the volume in a brick's own directory that hold data: not the brick's .graft, not link pointers.</summary>
    public static List<string> DataFilesOn(string brickDir) =>
        [.. Directory.GetFiles(brickDir, "*", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(Path.Combine(brickDir, ".graft") + "/", StringComparison.Ordinal) && !IsPointer(f))];
}

/// <summary>Reads a brick file's xattrs directly.</summary>
internal static unsafe partial class Xattr
{
    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static byte[]? Get(string path, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* b = buf) n = lgetxattr(path, name, b, (nuint)buf.Length);
        return n < 0 ? null : buf[..(int)n];
    }
}
