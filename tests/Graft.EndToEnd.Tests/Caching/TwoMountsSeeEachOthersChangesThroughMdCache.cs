using System.Diagnostics;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Caching;

/// <summary>
/// performance/md-cache (in `graft up`'s graph) serves a directory's attributes from its last create or unlink
/// for its timeout (1 s); the kernel caches what it was told for attr_timeout (1 s) more. Two mounts of one volume
/// see each other's changes — a directory's attributes, a file's size, an unlink, a rename — within that bound
/// (docs/performance.md), while the mount that made a change sees it at once.
/// </summary>
public class TwoMountsSeeEachOthersChangesThroughMdCache
{
    /// <summary>md-cache's timeout plus the kernel's attr_timeout (both defaults).</summary>
    private const double Bound = 2.0;
    /// <summary>Seconds of stat calls on a loaded machine on top of the bound: the wait is bounded by both.</summary>
    private const double Slack = 8.0;

    [MountFact]
    public async Task A_change_by_one_mount_reaches_the_other_within_the_bound()
    {
        await using var v = await MountedVolume.UpAsync("mdcache-two");
        await using var b = await SecondMount.StartAsync(v, "m2");
        var dirA = v.P("d");
        Directory.CreateDirectory(dirA);
        var dirB = b.P("d");

        // A creates in d, then stats d: answered from the attributes the create's reply carried.
        long hitsBefore = Hits(v);
        for (int i = 0; i < 5; i++) { File.WriteAllText(Path.Combine(dirA, $"a{i}"), "x"); _ = Mode(dirA); }
        Assert.True(Hits(v) > hitsBefore, "md-cache answered no stat of d: the test would prove nothing");

        // Attribute: B changes d's mode.
        Chmod(dirB, "0700");
        await Within(() => (Mode(dirA) & 0x1ff) == 0x1c0, "d's new mode on mount A");
        File.WriteAllText(Path.Combine(dirA, "a5"), "x"); // and A's next create caches d anew

        // Size: B appends to a file A has looked at.
        _ = new FileInfo(Path.Combine(dirA, "a0")).Length;
        File.AppendAllText(Path.Combine(dirB, "a0"), "more");
        await Within(() => new FileInfo(Path.Combine(dirA, "a0")).Length == 5, "a0's new size on mount A");

        // Unlink: B removes a file A has looked at; d's mtime moves with it.
        var mtime = Directory.GetLastWriteTimeUtc(dirA);
        File.Delete(Path.Combine(dirB, "a1"));
        await Within(() => !File.Exists(Path.Combine(dirA, "a1")) && Directory.GetLastWriteTimeUtc(dirA) > mtime, "a1 gone and d's mtime moved on mount A");

        // Rename: B renames a file A has looked at.
        Assert.True(File.Exists(Path.Combine(dirA, "a2")));
        File.Move(Path.Combine(dirB, "a2"), Path.Combine(dirB, "renamed"));
        await Within(() => !File.Exists(Path.Combine(dirA, "a2")) && File.Exists(Path.Combine(dirA, "renamed")), "the rename on mount A");

        // The mount that makes a change sees it at once: A's own unlink, then d's attributes from md-cache.
        var before = Directory.GetLastWriteTimeUtc(dirA);
        File.Delete(Path.Combine(dirA, "a3"));
        Assert.False(File.Exists(Path.Combine(dirA, "a3")));
        Assert.True(Directory.GetLastWriteTimeUtc(dirA) >= before);
        Assert.Equal(Directory.GetLastWriteTimeUtc(Path.Combine(v.Brick, "d")), Directory.GetLastWriteTimeUtc(dirA));
    }

    /// <summary>Waits until <paramref name="cond"/> holds; fails past the bound (plus the slack a loaded machine needs for the stat calls).</summary>
    private static async Task Within(Func<bool> cond, string what)
    {
        var sw = Stopwatch.StartNew();
        await Proc.Until(cond, what, Bound + Slack);
        Console.WriteLine($"{what}: {sw.Elapsed.TotalSeconds:0.00} s");
    }

    private static uint Mode(string path) => (uint)File.GetUnixFileMode(path);

    private static void Chmod(string path, string octal) => File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));

    /// <summary>md-cache's hits on the mount's active graph.</summary>
    private static long Hits(MountedVolume v) => v.TranslatorCounter("hits");
}
