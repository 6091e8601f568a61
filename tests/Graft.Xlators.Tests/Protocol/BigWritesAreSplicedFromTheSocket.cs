using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;
using Graft.Xlators.Tests.Posix;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// write-splice (docs/performance.md "Writes spliced from the socket"): on a plaintext connection a big write's data
/// goes from the socket through a pipe into the file, the bytes that arrived with its header copied into the pipe in
/// front of the rest. Every write still lands exactly (holes, unaligned offsets, the threshold and one byte under it),
/// over TLS and with the option off too (copied there); an O_APPEND fd falls back to the copy; a write the graph fails
/// or the disk refuses gets its own error and leaves its connection in step; a frame that claims to be spliced closes
/// its connection; a write whose data trickles in (more pieces than the pipe has slots) goes the usual way intact.
/// </summary>
public class BigWritesAreSplicedFromTheSocket(CertificateFixture f) : IClassFixture<CertificateFixture>
{
    private static readonly FopContext Root = FopContext.Root();
    private const int MiB = 1 << 20;

    [Theory]
    [InlineData(false, null, 65536)]      // the default, 64KB: 65,535 bytes copied, 65,536 spliced
    [InlineData(false, "200KB", 204800)]
    [InlineData(false, "0", 0)]           // off: copied as before
    [InlineData(true, null, 0)]           // TLS: copied through the TLS stream
    public async Task Writes_of_every_size_and_offset_land_intact(bool tls, string? writeSplice, int threshold)
    {
        var options = tls ? f.Certs.ServerOptions : [];
        if (writeSplice is not null) options["write-splice"] = writeSplice;
        await using var brick = await InProcessBrick.StartAsync(options);
        var (g, c) = await brick.ConnectAsync(new(tls ? f.Certs.ClientOptions() : []) { ["ping-timeout"] = "0" });
        var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");
        long seen = brick.Server.WritesSpliced;
        int spliced = 0;

        var expected = await WritesOfEveryShape.WriteAllAsync(c, fd, size =>
        {
            // Each write is answered before the next is sent, so the count tells exactly which were spliced.
            long now = brick.Server.WritesSpliced;
            bool want = threshold > 0 && size >= threshold;
            Assert.True(now - seen == (want ? 1 : 0), $"a write of {size} bytes: {now - seen} spliced, {(want ? 1 : 0)} expected");
            seen = now;
            if (want) spliced++;
        });

        WritesOfEveryShape.Check(Path.Combine(brick.Dir, "f"), expected);
        Assert.Equal(0, brick.Server.WriteSplicesMoved);
        if (threshold > 0) Assert.True(spliced >= WritesOfEveryShape.Offsets.Length);
        Assert.Equal(1, c.Connects);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>The kernel refuses a positioned splice into an O_APPEND file: posix takes the bytes out of the pipe and appends them.</summary>
    [Fact]
    public async Task Writes_through_an_append_fd_are_copied_and_appended()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f", OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
        var a = Pattern(1, 300_000);
        var b = Pattern(2, MiB);

        Assert.Equal(a.Length, (await c.WritevAsync(Root, fd, a, 0)).Value);
        Assert.Equal(b.Length, (await c.WritevAsync(Root, fd, b, 0)).Value);   // the offset is ignored: it appends

        WritesOfEveryShape.Check(Path.Combine(brick.Dir, "f"), [.. a, .. b]);
        Assert.Equal(0, brick.Server.WritesSpliced);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>A write debug/faults fails above storage/posix never takes its pipe: the client gets that write's error, the pipe is dropped, and the next write is spliced as usual.</summary>
    [Fact]
    public async Task A_write_the_graph_fails_gets_its_error_and_the_next_is_spliced()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new() { ["fail"] = "writev", ["fail-count"] = "1", ["fail-errno"] = "EIO" });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");
        var a = Pattern(3, MiB);
        var b = Pattern(4, MiB - 3);

        var failed = await c.WritevAsync(Root, fd, a, 0);
        var written = await c.WritevAsync(Root, fd, b, 5);

        Assert.Equal(Errno.EIO, failed.Error);
        Assert.Equal(b.Length, written.Value);
        Assert.Equal(1, brick.Server.WritesSpliced);
        WritesOfEveryShape.Check(Path.Combine(brick.Dir, "f"), [0, 0, 0, 0, 0, .. b]);
        Assert.Equal(1, c.Connects);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// The brick on a 4 MiB tmpfs: 1 MiB writes fill it, and the splice into the file fails part way (a short count)
    /// or at once (ENOSPC). Each write gets its own answer, the connection stays in step (the bytes of a write the disk
    /// refused had already left the socket), and what was written before is intact.
    /// </summary>
    [PosixFact]
    public async Task A_write_the_disk_refuses_gets_ENOSPC_and_its_connection_goes_on()
    {
        var mnt = Path.Combine(Path.GetTempPath(), "graft-protocol-tests", Guid.NewGuid().ToString("n") + "-full");
        Directory.CreateDirectory(mnt);
        await RunAsync("mount", "-t", "tmpfs", "-o", "size=4m", "graft-test", mnt);
        try
        {
            await using (var brick = await InProcessBrick.StartAsync(temp: Path.Combine(mnt, "t")))
            {
                var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
                var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");
                var expected = new List<byte>();
                Result<int> last = default;
                for (int i = 0; i < 8; i++)
                {
                    var data = Pattern(10 + i, MiB);
                    last = await c.WritevAsync(Root, fd, data, expected.Count);
                    if (!last.Ok) break;
                    expected.AddRange(data.AsSpan(0, last.Value).ToArray());
                    if (last.Value < MiB) { last = await c.WritevAsync(Root, fd, data.AsMemory(last.Value), expected.Count); break; }
                }

                Assert.Equal(Errno.ENOSPC, last.Error);
                Assert.True(brick.Server.WritesSpliced >= 2, $"{brick.Server.WritesSpliced} writes spliced");
                Assert.True((await c.FstatAsync(Root, fd)).Ok, "the connection after ENOSPC");
                var back = new byte[expected.Count];
                var r = await c.ReadvAsync(Root, fd, back, 0);
                Assert.Equal(expected.Count, r.Value);
                Assert.True(back.AsSpan().SequenceEqual(expected.ToArray()), "the bytes written before the disk filled");
                Assert.Equal(1, c.Connects);
                await FopScenario.Release(c, fd);
                await g.StopAsync();
            }
        }
        finally
        {
            await RunAsync("umount", mnt);
            Directory.Delete(mnt);
        }
    }

    /// <summary>
    /// Only the brick's receive thread may mark a frame as spliced: a client that sends one with that flag is cut off
    /// (the frame never reaches a request), and the brick goes on serving others.
    /// </summary>
    [Fact]
    public async Task A_frame_that_claims_to_be_spliced_closes_its_connection()
    {
        await using var brick = await InProcessBrick.StartAsync();
        await using var raw = await RawClient.ConnectAsync(brick.Port);
        Assert.Equal(Errno.OK, (await raw.HandshakeAsync("brick", TestSecret.Bytes))?.Error);
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Writev) { Caller = new WireCaller { Groups = [] }, Fd = 1, Offset = 0, Data = new byte[100] });

        await raw.SendAsync(RawClient.Frame(FrameType.Request, FopOp.Writev, 1, w, flags | (FrameFlags)0x80));

        Assert.True(await raw.ClosedByBrickAsync(), "the brick kept the connection");
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");
        Assert.Equal(MiB, (await c.WritevAsync(Root, fd, Pattern(5, MiB), 0)).Value);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// A 1 MiB write whose data arrives in 2 KiB pieces a millisecond apart: each piece takes a slot of the pipe, which
    /// fills before the data is in. The frame then goes the usual way (its start and the pipe's bytes moved into a
    /// receive buffer) and lands intact; the next write, sent whole, is spliced.
    /// </summary>
    [Fact]
    public async Task A_write_that_trickles_in_goes_the_usual_way_intact()
    {
        await using var brick = await InProcessBrick.StartAsync();
        await using var raw = await RawClient.ConnectAsync(brick.Port);
        Assert.Equal(Errno.OK, (await raw.HandshakeAsync("brick", TestSecret.Bytes))?.Error);
        var gfid = Gfid.NewGfid();
        var caller = new WireCaller { Groups = [] };
        var made = await raw.CallAsync(new FopRequest(FopOp.Create)
        {
            Caller = caller, Loc = new WireLoc(default, Gfid.Root, "f"), Flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT, Mode = 0x1a4, NewGfid = gfid,
        });
        Assert.Equal(Errno.OK, made.Error);
        var a = Pattern(6, MiB);
        var b = Pattern(7, MiB);
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Writev) { Caller = caller, Fd = made.Fd, Offset = 0, Data = a });
        var frame = RawClient.Frame(FrameType.Request, FopOp.Writev, 100, w, flags);

        await Task.Run(() =>
        {
            for (int at = 0; at < frame.Length; at += 2048)
            {
                raw.Socket.Send(frame.AsSpan(at, Math.Min(2048, frame.Length - at)));
                if (at > 0) Thread.Sleep(1);
            }
        }).WaitAsync(TimeSpan.FromSeconds(60));
        var reply = await raw.ReadFrameAsync(30000);
        Assert.True(reply is { Header.Type: FrameType.Reply, Header.Id: 100 }, "no reply to the trickled write");
        Assert.True(FopCodec.TryReadReply(FopOp.Writev, reply.Value.Header.Flags, reply.Value.Body, out var p) && p.Value == MiB, $"trickled write: {p.Error.Name()} {p.Value}");
        Assert.True(brick.Server.WriteSplicesMoved >= 1, "the trickled write was spliced whole");
        w.Reset();
        flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Writev) { Caller = caller, Fd = made.Fd, Offset = MiB, Data = b });
        await raw.SendAsync(RawClient.Frame(FrameType.Request, FopOp.Writev, 101, w, flags));
        reply = await raw.ReadFrameAsync(30000);

        Assert.True(reply is { Header.Id: 101 } && FopCodec.TryReadReply(FopOp.Writev, reply.Value.Header.Flags, reply.Value.Body, out p) && p.Value == MiB, "the write sent whole");
        Assert.Equal(1, brick.Server.WritesSpliced);
        WritesOfEveryShape.Check(Path.Combine(brick.Dir, "f"), [.. a, .. b]);
    }

    /// <summary>
    /// 100 writes of 256 KiB in flight at once, each held 30 ms by debug/faults (one at a time: they share a file, so its write lane): the brick holds at most
    /// <c>WriteSplicing.MaxOut</c> pipes (the rest are received as usual), every write lands intact, and every pipe is
    /// given back when they are done.
    /// </summary>
    [Fact]
    public async Task Writes_in_flight_hold_a_bounded_number_of_pipes_and_give_them_all_back()
    {
        await using var brick = await InProcessBrick.StartAsync(faultOptions: new() { ["delay"] = "writev", ["delay-duration"] = "30ms" });
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");
        const int Writes = 100, Size = 256 << 10;
        var data = Enumerable.Range(0, Writes).Select(i => Pattern(20 + i, Size)).ToArray();
        int most = 0;
        using var stop = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) { most = Math.Max(most, brick.Server.WriteSplice.Out); await Task.Delay(5); }
        });

        var writes = Enumerable.Range(0, Writes).Select(i => c.WritevAsync(Root, fd, data[i], (long)i * Size).AsTask()).ToArray();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await watch;

        Assert.All(writes, w => Assert.Equal(Size, w.Result.Value));
        // Most of the writes wait on the lane, each with its pipe (or without one, once the pipes ran out).
        Assert.InRange(most, Graft.Xlators.Protocol.Transport.WriteSplicing.MaxOut / 2, Graft.Xlators.Protocol.Transport.WriteSplicing.MaxOut);
        Assert.InRange(brick.Server.WritesSpliced, 1, Writes);
        Assert.Equal(0, brick.Server.WriteSplice.Out);
        WritesOfEveryShape.Check(Path.Combine(brick.Dir, "f"), data.SelectMany(d => d).ToArray());
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    private static byte[] Pattern(int seed, int length)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {await p.StandardError.ReadToEndAsync()}");
    }
}
