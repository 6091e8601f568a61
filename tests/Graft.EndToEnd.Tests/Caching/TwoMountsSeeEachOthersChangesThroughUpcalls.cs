using System.Diagnostics;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Caching;

/// <summary>
/// With features/upcall on the brick (the standard brick graph) and notices asked for by the client (protocol/client
/// `upcall on`, the default), each mount hears what the other changed of what it looked at, and drops it from the
/// kernel's caches (INVAL_INODE, INVAL_ENTRY) and md-cache's. So the kernel's timeouts are long by default while
/// notices come (30 s for attributes, names and absent names: FuseBridgeOptions.NotifiedTimeout), and still each mount
/// sees the other's change of an attribute, a size, an unlink and a rename — and a name that it had found absent —
/// within the upcall bound, far below the timeouts: only a notice can explain that (a change made on the brick's
/// directory behind the clients' backs, which sends none, stays unseen past the 1 s of a mount without notices).
/// </summary>
public class TwoMountsSeeEachOthersChangesThroughUpcalls
{
    /// <summary>The kernel's entry, attribute and negative timeouts on both mounts while notices come (seconds): the default.</summary>
    private const int KernelTimeout = 30;

    /// <summary>The timeouts without notices (seconds): what the kernel's cache must outlive to show the long ones are in force.</summary>
    private const double PlainTimeout = 1;

    /// <summary>
    /// How long a notice may take, from the change's return on one mount to the other mount seeing it (the brick
    /// queues the notice before it answers the change; the rest is a loopback frame and a kernel notification, plus
    /// the stat calls of the wait on a loaded machine). A third of <see cref="KernelTimeout"/>: seeing the change
    /// within it cannot be the timeouts' doing.
    /// </summary>
    private const double UpcallBound = KernelTimeout / 3.0;

    [MountFact]
    public async Task A_change_by_one_mount_reaches_the_other_within_the_upcall_bound()
    {
        // The default mount options: no timeout given.
        await using var v = await MountedVolume.UpAsync("upcall-two");
        await using var b = await SecondMount.StartAsync(v, "m2");
        var dirA = v.P("d");
        Directory.CreateDirectory(dirA);
        for (int i = 0; i < 4; i++) File.WriteAllText(Path.Combine(dirA, $"a{i}"), "x");
        var dirB = b.P("d");

        // Attribute: A caches a0's mode. A change made on the brick's directory itself, past every client, sends no
        // notice: A still answers from the kernel's cache after longer than the plain timeout (a fixed wait: what is
        // shown is that nothing happens within it), so the long ones are in force. B's change is heard.
        string a0 = Path.Combine(dirA, "a0");
        Assert.Equal(0x1a4u, Mode(a0) & 0x1ff);
        File.SetUnixFileMode(Path.Combine(v.Brick, "d", "a0"), (UnixFileMode)0x180);
        await Task.Delay(TimeSpan.FromSeconds(PlainTimeout * 1.5));
        Assert.Equal(0x1a4u, Mode(a0) & 0x1ff);
        File.SetUnixFileMode(Path.Combine(dirB, "a0"), (UnixFileMode)0x1c0);
        await Within(() => (Mode(a0) & 0x1ff) == 0x1c0, "a0's new mode on mount A");

        // Size: A caches a1's size; B appends.
        string a1 = Path.Combine(dirA, "a1");
        Assert.Equal(1, new FileInfo(a1).Length);
        File.AppendAllText(Path.Combine(dirB, "a1"), "more");
        await Within(() => new FileInfo(a1).Length == 5, "a1's new size on mount A");

        // Unlink: A caches the name a2; B removes it.
        string a2 = Path.Combine(dirA, "a2");
        Assert.True(File.Exists(a2));
        File.Delete(Path.Combine(dirB, "a2"));
        await Within(() => !File.Exists(a2), "a2 gone on mount A");

        // Rename: A caches a3 and the absence of r; B renames a3 to r.
        string a3 = Path.Combine(dirA, "a3"), r = Path.Combine(dirA, "r");
        Assert.True(File.Exists(a3));
        Assert.False(File.Exists(r));
        File.Move(Path.Combine(dirB, "a3"), Path.Combine(dirB, "r"));
        await Within(() => !File.Exists(a3) && File.Exists(r), "the rename a3 -> r on mount A");

        // And the other way: B caches the absence of n; A creates it.
        string nB = Path.Combine(dirB, "n");
        Assert.False(File.Exists(nB));
        File.WriteAllText(Path.Combine(dirA, "n"), "new");
        await Within(() => File.Exists(nB), "n, created on mount A, on mount B");
    }

    /// <summary>Waits until <paramref name="cond"/> holds, for at most <see cref="UpcallBound"/> from the change's return.</summary>
    private static async Task Within(Func<bool> cond, string what)
    {
        var sw = Stopwatch.StartNew();
        await Proc.Until(cond, what, UpcallBound);
        Console.WriteLine($"{what}: {sw.Elapsed.TotalSeconds:0.00} s");
    }

    private static uint Mode(string path) => (uint)File.GetUnixFileMode(path);
}
