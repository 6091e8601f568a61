using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Mount;
using Graft.Xlators;

namespace Graft.Fuse.Tests;

/// <summary>
/// DESIGN invariant 8 through the kernel: a mount (FUSE bridge on /dev/fuse, in this process so the test can
/// hold weak references to its graphs) switched twenty times while files and a directory are open through it
/// — one file used between switches, one file and the directory left idle for the sweep to move — holds no
/// old graph afterwards: not in the session's list, and not reachable at all after a full collection
/// (nothing in the bridge, the session's handles or their nodes keeps one alive).
/// </summary>
public class OldGraphsAreUnreachableAfterSwitchesThroughAMount
{
    private const int Switches = 20;

    [FuseFact]
    public async Task Twenty_switches_with_files_open_leave_only_the_active_graph_reachable()
    {
        await using var m = await BridgeMount.StartAsync(options: new MountOptions { Registry = BuiltinXlators.CreateRegistry() });
        var weak = new List<WeakReference<Graph>>();
        var (busy, idle, dir) = await m.Io(() =>
        {
            File.WriteAllText(m.P("idle"), "idle bytes");
            Directory.CreateDirectory(m.P("d"));
            for (int i = 0; i < 10; i++) File.WriteAllText(Path.Combine(m.P("d"), $"e{i}"), "");
            var d = Directory.EnumerateFileSystemEntries(m.P("d")).GetEnumerator();
            Assert.True(d.MoveNext());
            return (Open(m.P("busy"), Native.O_RDWR | Native.O_CREAT | Native.O_EXCL, FileAccess.ReadWrite),
                    Open(m.P("idle"), Native.O_RDONLY, FileAccess.Read), d);
        });
        try
        {
            Track(weak, m.Session);
            for (int i = 1; i <= Switches; i++)
            {
                var r = await m.Session.ApplyVolfileAsync(Volfile(m.Brick, faults: i % 2 == 1));
                Assert.True(r.Outcome == SwitchOutcome.Switched, $"switch {i}: {r.Outcome} {r.Message}");
                Track(weak, m.Session);
                await m.Io(() =>
                {
                    busy.Write([(byte)('a' + i % 26)]);
                    busy.Flush(flushToDisk: true);
                    Assert.Equal(i, new FileInfo(m.P("busy")).Length); // a lookup and a getattr on the new graph
                });
            }
            await WaitOneGraphAsync(m.Session, seconds: 60);
            Assert.Equal(Switches + 1, weak.Count);
            var alive = AliveGenerations(weak);
            Assert.True(alive.SequenceEqual([m.Session.ActiveGraph.Generation]),
                $"graphs still reachable after a full collection: generations {string.Join(",", alive)} (active {m.Session.ActiveGraph.Generation})");
            Assert.Equal(0, m.Session.GetState().Counters.FdMigrationFailures);
            Assert.Equal(0, m.Session.GetState().Counters.RetirementsForced);

            // What was open is open still, on the active graph.
            await m.Io(() =>
            {
                var buf = new byte[32];
                Assert.Equal("idle bytes", System.Text.Encoding.ASCII.GetString(buf, 0, idle.Read(buf)));
                var rest = 1;
                while (dir.MoveNext()) rest++;
                Assert.Equal(10, rest);
            });
        }
        finally
        {
            await m.Io(() => { busy.Dispose(); idle.Dispose(); dir.Dispose(); });
        }
    }

    /// <summary>open(2) itself: a FileStream opened by path takes a flock, which a graph without features/locks
    /// (this local one) cannot carry to the next graph, so the file would fail closed at the first switch.</summary>
    private static FileStream Open(string path, int flags, FileAccess access)
    {
        int fd = Native.open(path, flags, 0x1A4);
        Assert.True(fd >= 0, $"open {path}: errno {Native.Errno}");
        return new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), access, 0);
    }

    private static string Volfile(string brick, bool faults)
    {
        var s = $"volume posix\n    type storage/posix\n    option directory {brick}\nend-volume\n";
        return faults ? s + "\nvolume faults\n    type debug/faults\n    subvolumes posix\nend-volume\n" : s;
    }

    /// <summary>Waits (bounded) until the session holds only its active graph: every old one retired and destroyed.</summary>
    private static async Task WaitOneGraphAsync(MountSession session, double seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (session.Graphs.Count > 1)
        {
            Assert.True(DateTime.UtcNow < deadline, $"old graphs not retired within {seconds}s: {session.GetState().ToJson()}");
            await Task.Delay(20);
        }
    }

    // Not inlined, so that no local of the test method keeps a graph alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Track(List<WeakReference<Graph>> weak, MountSession session) => weak.Add(new WeakReference<Graph>(session.ActiveGraph));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<long> AliveGenerations(List<WeakReference<Graph>> weak)
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        var alive = new List<long>();
        foreach (var w in weak) if (w.TryGetTarget(out var g)) alive.Add(g.Generation);
        return alive;
    }
}
