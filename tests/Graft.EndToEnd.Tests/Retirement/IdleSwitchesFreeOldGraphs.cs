using System.Runtime.CompilerServices;
using Graft.Client;
using Graft.Core;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// DESIGN invariant 8 over a brick process: 1,000 switches on an idle volume with 100 files held
/// open and never used. The sweep moves the idle files forward, every old graph is retired and
/// destroyed, and afterwards none of them is reachable and the process's fds, sockets and threads
/// are back to what one graph needs.
/// </summary>
// Counts of fds, sockets and threads are process-wide: no other test may run beside this one.
[Collection(nameof(ProcessWideCounts))]
public class IdleSwitchesFreeOldGraphs(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Switches = 1000, OpenFiles = 100;

    [Fact]
    public async Task A_thousand_switches_leave_one_graph_and_no_old_one_reachable()
    {
        var weak = new List<WeakReference<Graph>>();
        await using var t = await NetVolume.StartAsync(writeBehind: false);
        var streams = new List<GraftFileStream>();
        try
        {
            for (int i = 0; i < OpenFiles; i++)
            {
                var s = await t.Volume.OpenAsync($"/idle{i}", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
                await s.WriteAsync(new byte[] { (byte)i });
                streams.Add(s);
            }
            Track(weak, t);
            var before = ProcessCounts.Take();
            output.WriteLine($"one graph: {before}");

            bool wb = false;
            for (int i = 0; i < Switches; i++)
            {
                wb = !wb;
                await t.ApplyAsync(wb);
                Track(weak, t);
                // Let retirement keep up (it runs beside the switches, never in their way), so the
                // test measures freeing rather than a pile of connecting graphs.
                if (t.Volume.Session.Graphs.Count > 8) await WaitGraphsAtMostAsync(t, 4);
            }
            await t.WaitOneGraphAsync(TimeSpan.FromSeconds(60));

            var st = t.State;
            Assert.Equal(Switches, st.Counters.Switches);
            Assert.Equal(Switches, st.Counters.GraphsDestroyed); // generations 1..1000 gone, 1001 active
            Assert.Equal(0, st.Counters.RetirementsForced);
            Assert.Equal(0, st.Counters.FdMigrationFailures);
            Assert.Equal(OpenFiles, st.OpenFiles[st.ActiveGeneration]);
            Assert.Equal(Switches + 1, weak.Count);

            var alive = CountAlive(weak);
            Assert.True(alive == 1, $"{alive - 1} destroyed graphs are still reachable after a full collection: generations {AliveGenerations(weak)}");

            // Threads and sockets wind down asynchronously (a closed connection's loops exit): bounded wait.
            ProcessCounts after = default;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (true)
            {
                CountAlive(weak);
                after = ProcessCounts.Take();
                if (after.Within(before) || DateTime.UtcNow > deadline) break;
                await Task.Delay(100);
            }
            output.WriteLine($"after {Switches} switches: {after}; fd migrations {st.Counters.FdMigrations}, swept {st.Counters.HandlesSwept}");
            Assert.True(after.Within(before), $"before {before}, after {after}");

            // The idle files were moved, not lost.
            for (int i = 0; i < OpenFiles; i += 9)
            {
                streams[i].Position = 0;
                var b = new byte[2];
                Assert.Equal(1, await streams[i].ReadAsync(b));
                Assert.Equal((byte)i, b[0]);
            }
        }
        finally
        {
            foreach (var s in streams) await s.DisposeAsync();
        }
    }

    private static async Task WaitGraphsAtMostAsync(NetVolume t, int n)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (t.Volume.Session.Graphs.Count > n)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"graphs not retiring: {t.State.ToJson()}");
            await Task.Delay(5);
        }
    }

    // Not inlined, so no local of the test method keeps a graph alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Track(List<WeakReference<Graph>> weak, NetVolume t) =>
        weak.Add(new WeakReference<Graph>(t.Volume.Session.ActiveGraph));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string AliveGenerations(List<WeakReference<Graph>> weak)
    {
        var gens = new List<long>();
        foreach (var w in weak) if (w.TryGetTarget(out var g)) gens.Add(g.Generation);
        return string.Join(",", gens.Take(40));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CountAlive(List<WeakReference<Graph>> weak)
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        int alive = 0;
        foreach (var w in weak) if (w.TryGetTarget(out _)) alive++;
        return alive;
    }
}

[CollectionDefinition(nameof(ProcessWideCounts), DisableParallelization = true)]
public sealed class ProcessWideCounts;

/// <summary>
/// Open fds, sockets among them, and threads of this process (from /proc), and how many of those
/// threads are the shared thread pool's: the pool grows under load and shrinks only after its
/// threads sit idle for a while, so it is bounded loosely; every other thread is what a graph
/// could leak (a dedicated loop per connection, a timer thread), and is bounded tightly.
/// </summary>
internal readonly record struct ProcessCounts(int Fds, int Sockets, int Threads, int PoolThreads)
{
    public const int FdSlack = 6, SocketSlack = 1, OwnThreadSlack = 2, PoolThreadSlack = 10;

    public int OwnThreads => Threads - PoolThreads;

    public static ProcessCounts Take()
    {
        int fds = 0, sockets = 0;
        foreach (var f in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            fds++;
            try { if (new FileInfo(f).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true) sockets++; }
            catch (IOException) { } // closed while we looked
        }
        int threads = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = int.Parse(line.AsSpan(8).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return new ProcessCounts(fds, sockets, threads, ThreadPool.ThreadCount);
    }

    /// <summary>About one graph's worth: no more than the baseline plus a small slack each.</summary>
    public bool Within(ProcessCounts baseline) =>
        Fds <= baseline.Fds + FdSlack && Sockets <= baseline.Sockets + SocketSlack &&
        OwnThreads <= baseline.OwnThreads + OwnThreadSlack && PoolThreads <= baseline.PoolThreads + PoolThreadSlack;

    public override string ToString() => $"fds {Fds}, sockets {Sockets}, threads {Threads} ({PoolThreads} of the thread pool)";
}
