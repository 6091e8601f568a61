using System.Diagnostics.Metrics;
using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>DESIGN invariant 3: read, write and getattr on a resolved handle take no lock and allocate nothing.</summary>
public class SessionHotPathTests
{
    private const int Calls = 10_000;

    [Fact]
    public async Task Read_write_and_getattr_on_a_hit_allocate_nothing()
    {
        await using var t = await TestSession.StartAsync(layers: 3);
        var f = await t.CreateFileAsync("f", new byte[8192]);
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDWR));
        var ctx = FopContext.Root();
        var buf = new byte[4096];
        var mem = buf.AsMemory();
        var s = t.Session;

        // Warm up: JIT, statics, the brick's buffer at its final size.
        RunAll(s, ctx, file, f.Node, mem, 100);

        var before = GC.GetAllocatedBytesForCurrentThread();
        RunAll(s, ctx, file, f.Node, mem, Calls);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(0, t.Graph.FopsInFlight);
        await s.ReleaseAsync(file);
    }

    [Fact]
    public async Task Timing_each_call_for_a_listening_exporter_allocates_nothing()
    {
        await using var t = await TestSession.StartAsync(layers: 3);
        var f = await t.CreateFileAsync("f", new byte[8192]);
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDWR));
        var ctx = FopContext.Root();
        var mem = new byte[4096].AsMemory();
        var s = t.Session;
        // What an exporter does: listen to the session's latency histogram (tag fop) and aggregate each measurement.
        long recorded = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == MountMetrics.MeterName && i.Name == "graft.mount.fop.duration") l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => { if (tags.Length == 1) Interlocked.Increment(ref recorded); });
        listener.Start();
        RunAll(s, ctx, file, f.Node, mem, 100);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var calls = Interlocked.Read(ref recorded);
        RunAll(s, ctx, file, f.Node, mem, Calls);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        // Every read, write, fgetattr and getattr was timed (sessions of tests running beside this one may add more).
        Assert.True(Interlocked.Read(ref recorded) - calls >= 4L * Calls, $"{Interlocked.Read(ref recorded) - calls} calls timed");
        await s.ReleaseAsync(file);
    }

    private static void RunAll(MountSession s, FopContext ctx, MountFile file, MountNode node, Memory<byte> mem, int n)
    {
        for (int i = 0; i < n; i++)
        {
            var w = s.WriteAsync(ctx, file, mem, 0);
            Assert.True(w.IsCompletedSuccessfully);
            if (w.Result.Value != mem.Length) Assert.Fail("short write");
            var r = s.ReadAsync(ctx, file, mem, 4096);
            if (!r.IsCompletedSuccessfully || r.Result.Value != mem.Length) Assert.Fail("read did not complete synchronously");
            var a = s.GetattrAsync(ctx, file);
            if (!a.IsCompletedSuccessfully || a.Result.Value.Size != 8192) Assert.Fail("fgetattr");
            var b = s.GetattrAsync(ctx, node);
            if (!b.IsCompletedSuccessfully || !b.Result.Ok) Assert.Fail("getattr");
        }
    }
}
