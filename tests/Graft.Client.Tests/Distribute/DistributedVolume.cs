using System.Runtime.InteropServices;
using System.Text;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// A library volume over cluster/distribute over N storage/posix bricks in private temp
/// directories (in this process): what the translator does, checked on the bricks' own files.
/// </summary>
internal sealed class DistributedVolume : IAsyncDisposable
{
    private readonly string _root;
    public List<string> Bricks { get; } = [];
    public Volume Volume { get; private set; } = null!;

    private DistributedVolume(string root) { _root = root; }

    /// <summary>Each brick is features/locks over storage/posix (volume b{i}), rather than storage/posix alone.</summary>
    public bool WithLocks { get; private init; }

    public static async Task<DistributedVolume> CreateAsync(int bricks, string options = "", bool withLocks = false)
    {
        var v = new DistributedVolume(Path.Combine(Path.GetTempPath(), "graft-dht-tests", Guid.NewGuid().ToString("N"))) { WithLocks = withLocks };
        for (int i = 0; i < bricks; i++) v.AddBrickDir();
        v.Volume = await Volume.OpenVolfileTextAsync(v.Volfile(bricks, options), "dht.vol",
            new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10) });
        return v;
    }

    public string AddBrickDir()
    {
        var d = Path.Combine(_root, "b" + Bricks.Count);
        Directory.CreateDirectory(d);
        Bricks.Add(d);
        return d;
    }

    /// <summary>The client volfile over the first <paramref name="n"/> bricks.</summary>
    public string Volfile(int n, string options = "")
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            if (!WithLocks) sb.Append($"volume b{i}\n    type storage/posix\n    option directory {Bricks[i]}\nend-volume\n\n");
            else sb.Append($"volume p{i}\n    type storage/posix\n    option directory {Bricks[i]}\nend-volume\n\n")
                   .Append($"volume b{i}\n    type features/locks\n    option lock-grace 0\n    subvolumes p{i}\nend-volume\n\n");
        }
        sb.Append("volume dht\n    type cluster/distribute\n");
        foreach (var line in options.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(line.Trim()).Append('\n');
        sb.Append("    subvolumes ").AppendJoin(' ', Enumerable.Range(0, n).Select(i => "b" + i)).Append("\nend-volume\n");
        return sb.ToString();
    }

    /// <summary>Adds a brick and switches the volume to a graph over all bricks (add-brick).</summary>
    public async Task AddBrickAsync(string options = "")
    {
        AddBrickDir();
        var r = await Volume.ApplyVolfileAsync(Volfile(Bricks.Count, options), "dht.vol");
        Assert.True(r.Outcome == Graft.Mount.SwitchOutcome.Switched, r.Message);
    }

    public DistributeTranslator Dht => (DistributeTranslator)Volume.Session.ActiveGraph.Top;

    /// <summary>Where a path of the volume is on brick <paramref name="i"/>.</summary>
    public string On(int i, string path) => Path.Combine(Bricks[i], path.TrimStart('/'));

    /// <summary>The bricks that hold <paramref name="path"/> as a file of its own (not a link pointer).</summary>
    public int[] DataBricks(string path) =>
        Enumerable.Range(0, Bricks.Count).Where(i => File.Exists(On(i, path)) && !IsPointer(On(i, path))).ToArray();

    public static bool IsPointer(string file) => Xattr.Get(file, Linkfile.Xattr) is not null;

    public LayoutEntry? LayoutOn(int i, string dir) =>
        Xattr.Get(On(i, dir), Layout.Xattr) is { } b && LayoutEntry.TryParse(b, out var e) ? e : null;

    public Layout LayoutOf(string dir) => new([.. Enumerable.Range(0, Bricks.Count).Select(i => LayoutOn(i, dir))]);

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Reads a brick's xattrs directly, to check what distribute wrote there.</summary>
internal static unsafe partial class Xattr
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static byte[]? Get(string path, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* b = buf) n = lgetxattr(path, name, b, (nuint)buf.Length);
        return n < 0 ? null : buf[..(int)n];
    }
}
