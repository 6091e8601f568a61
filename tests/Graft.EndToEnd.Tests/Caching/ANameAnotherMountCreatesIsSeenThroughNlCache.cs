using System.Diagnostics;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Caching;

/// <summary>
/// performance/nl-cache (in `graft up`'s graph) answers the lookup of an absent name without asking the brick in a
/// directory whose every name the mount knows: one it made, or one it listed whole. A name another mount then creates
/// there is seen within the upcall bound — a third of nl-cache's timeout (30 s) and of the kernel's (30 s here), so
/// only the brick's notice can explain it (docs/performance.md, "performance/nl-cache").
/// </summary>
public class ANameAnotherMountCreatesIsSeenThroughNlCache
{
    private const int KernelTimeout = 30;
    /// <summary>As in TwoMountsSeeEachOthersChangesThroughUpcalls: a notice's travel, with a loaded machine's slack.</summary>
    private const double UpcallBound = KernelTimeout / 3.0;
    private static readonly string Timeouts = $"attr_timeout={KernelTimeout},entry_timeout={KernelTimeout},negative_timeout={KernelTimeout}";

    [MountFact]
    public async Task In_a_directory_made_here_and_in_one_listed_whole()
    {
        await using var v = await MountedVolume.UpAsync("nlcache-two", Timeouts);
        await using var b = await SecondMount.StartAsync(v, "m2", Timeouts);

        // Made here: d is known to be empty.
        Directory.CreateDirectory(v.P("d"));
        long before = Answered(v);
        Assert.False(File.Exists(v.P("d", "x")));
        Assert.True(Answered(v) > before, "nl-cache answered no lookup in d: the test would prove nothing");
        File.WriteAllText(b.P("d", "x"), "from B");
        await Within(() => File.Exists(v.P("d", "x")), "x, created in d on mount B, on mount A");
        Assert.Equal("from B", File.ReadAllText(v.P("d", "x")));

        // Listed whole: e, made with one name by B, is read by A.
        Directory.CreateDirectory(b.P("e"));
        File.WriteAllText(b.P("e", "y"), "y");
        Assert.Equal(["y"], Directory.GetFileSystemEntries(v.P("e")).Select(Path.GetFileName));
        before = Answered(v);
        Assert.False(File.Exists(v.P("e", "z")));
        Assert.True(Answered(v) > before, "nl-cache answered no lookup in e: the test would prove nothing");
        File.WriteAllText(b.P("e", "z"), "z");
        await Within(() => File.Exists(v.P("e", "z")), "z, created in e on mount B, on mount A");

        // A's own create in a known directory is seen by A at once, and by B.
        File.WriteAllText(v.P("d", "w"), "w");
        Assert.True(File.Exists(v.P("d", "w")));
        await Within(() => File.Exists(b.P("d", "w")), "w, created in d on mount A, on mount B");
    }

    /// <summary>Waits until <paramref name="cond"/> holds, for at most <see cref="UpcallBound"/> from the change's return.</summary>
    private static async Task Within(Func<bool> cond, string what)
    {
        var sw = Stopwatch.StartNew();
        await Proc.Until(cond, what, UpcallBound);
        Console.WriteLine($"{what}: {sw.Elapsed.TotalSeconds:0.00} s");
    }

    /// <summary>Lookups nl-cache answered on the mount's active graph.</summary>
    private static long Answered(MountedVolume v) => v.TranslatorCounter("enoent-answered");
}
