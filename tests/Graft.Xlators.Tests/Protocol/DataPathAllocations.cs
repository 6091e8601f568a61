using Graft.Core;
using Xunit.Abstractions;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// The steady-state data path (readv, writev, fstat on an open fd) allocates nothing per call
/// beyond pooled buffers, on the client and on the server: measured over the whole process,
/// which holds both ends of the loopback connection. The same over TLS.
/// </summary>
[Collection(AllocationMeasurements.Name)]
public class DataPathAllocations(ITestOutputHelper output, CertificateFixture f) : IClassFixture<CertificateFixture>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Readv_writev_and_fstat_allocate_next_to_nothing_per_call(bool tls)
    {
        // The brick's per-fop latency histogram is listened to, as an exporter (graft brick --metrics) would.
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == Graft.Xlators.Protocol.Server.ProtocolServer.MeterName) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => { });
        listener.Start();
        await using var brick = await InProcessBrick.StartAsync(tls ? f.Certs.ServerOptions : null);
        var (g, c) = await brick.ConnectAsync(new(tls ? f.Certs.ClientOptions() : []) { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        var data = new byte[64 << 10];
        var back = new byte[64 << 10];
        const int N = 5000;
        for (int i = 0; i < 1000; i++)   // warm pools, JIT, pipes
        {
            await c.WritevAsync(root, fd, data, 0);
            await c.ReadvAsync(root, fd, back, 0);
            await c.FstatAsync(root, fd);
        }

        // The count is the process's: background work (tiered JIT, timers, the pools' trimming) may
        // allocate inside one window on a loaded machine. An allocation per call shows in every
        // window, so the least of up to three is the path's own.
        long w = long.MaxValue, r = long.MaxValue, s = long.MaxValue;
        for (int window = 0; window < 3 && !(w < 1024 && r < 1024 && s < 64); window++)
        {
            long b0 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) if (!(await c.WritevAsync(root, fd, data, (i % 16) * (long)data.Length)).Ok) Assert.Fail("writev");
            long b1 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) if (!(await c.ReadvAsync(root, fd, back, (i % 16) * (long)back.Length)).Ok) Assert.Fail("readv");
            long b2 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) if (!(await c.FstatAsync(root, fd)).Ok) Assert.Fail("fstat");
            long b3 = GC.GetTotalAllocatedBytes(precise: true);
            w = Math.Min(w, (b1 - b0) / N);
            r = Math.Min(r, (b2 - b1) / N);
            s = Math.Min(s, (b3 - b2) / N);
            output.WriteLine($"window {window}: bytes allocated per call{(tls ? " over TLS" : "")}, client and brick together: writev(64 KiB) {(b1 - b0) / N}, readv(64 KiB) {(b2 - b1) / N}, fstat {(b3 - b2) / N}");
        }
        Assert.True(w < 1024 && r < 1024 && s < 64, $"writev {w}, readv {r}, fstat {s} bytes per call");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// 1 MiB writes, whose frames the brick keeps in reference-counted receive buffers (served from where they
    /// arrived, not copied), or with write-splice (the default) splices from the socket through pooled pipes: the
    /// buffers, pipes and their holders are pooled, so a steady stream allocates next to nothing.
    /// </summary>
    [Theory]
    [InlineData("0")]
    [InlineData(null)]
    public async Task Big_writev_frames_kept_in_their_receive_buffers_allocate_next_to_nothing_per_call(string? writeSplice)
    {
        await using var brick = await InProcessBrick.StartAsync(writeSplice is null ? null : new() { ["write-splice"] = writeSplice });
        long Taken() => writeSplice is null ? brick.Server.WritesSpliced : brick.Server.BodiesKept;
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        var data = new byte[1 << 20];
        const int N = 300;
        for (int i = 0; i < 100; i++) await c.WritevAsync(root, fd, data, (i % 8) * (long)data.Length);   // warm pools, JIT, pipes
        long kept0 = Taken(), w = long.MaxValue;
        for (int window = 0; window < 3 && w >= 1024; window++)
        {
            long b0 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) if (!(await c.WritevAsync(root, fd, data, (i % 8) * (long)data.Length)).Ok) Assert.Fail("writev");
            long b1 = GC.GetTotalAllocatedBytes(precise: true);
            w = Math.Min(w, (b1 - b0) / N);
            output.WriteLine($"window {window}: bytes allocated per 1 MiB writev, client and brick together: {(b1 - b0) / N}; bodies kept or spliced so far {Taken() - kept0}");
        }
        Assert.True(Taken() - kept0 >= N, $"only {Taken() - kept0} bodies kept or spliced");
        Assert.True(w < 1024, $"writev(1 MiB) {w} bytes per call");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// 1 MiB reads by a caller that may go on on the receive thread (the FUSE bridge's): four pieces in flight, then the
    /// hand-off to the thread pool for the copy out (read-hand-off): the pooled state machine is queued itself, nothing
    /// is allocated for the hop.
    /// </summary>
    [Theory]
    [InlineData("512KB")]
    [InlineData("0")]   // not handed off: the same reads' own figure beside it
    public async Task Big_reads_handed_off_to_the_pool_allocate_next_to_nothing_per_call(string handOff)
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0", ["read-hand-off"] = handOff });
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        var data = new byte[1 << 20];
        for (int i = 0; i < 8; i++) Assert.True((await c.WritevAsync(root, fd, data, i * (long)data.Length)).Ok);
        var ctx = FopContext.Root();
        ctx.ContinueInline = true;
        var back = new byte[1 << 20];
        const int N = 300;
        for (int i = 0; i < 100; i++) await c.ReadvAsync(ctx, fd, back, (i % 8) * (long)back.Length);   // warm pools, JIT, pipes
        long r = long.MaxValue;
        for (int window = 0; window < 3 && r >= 1024; window++)
        {
            long b0 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) if ((await c.ReadvAsync(ctx, fd, back, (i % 8) * (long)back.Length)).Value != back.Length) Assert.Fail("readv");
            long b1 = GC.GetTotalAllocatedBytes(precise: true);
            r = Math.Min(r, (b1 - b0) / N);
            output.WriteLine($"window {window}: bytes allocated per 1 MiB readv (read-hand-off {handOff}), client and brick together: {(b1 - b0) / N}");
        }
        Assert.True(r < 1024, $"readv(1 MiB) {r} bytes per call");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }
}

/// <summary>
/// Tests that count the process's allocations run with no other test beside them: whatever else
/// runs in parallel in this assembly would be counted too.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurements
{
    public const string Name = "allocation measurements";
}
