using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// read-splice (docs/performance.md "Reads spliced to the socket"): on a plaintext connection a big read's data goes
/// from the page cache through a pipe to the socket. Every read still gives the file's exact bytes and count (holes,
/// the end of the file, unaligned offsets), over TLS and with the option off too (copied there); a read racing
/// truncates gets only the file's bytes or zeros and never breaks its connection; a failure after a spliced frame's
/// header drops the connection rather than sending a corrupt frame.
/// </summary>
public class BigReadsAreSplicedToTheSocket(CertificateFixture f) : IClassFixture<CertificateFixture>
{
    private static readonly FopContext Root = FopContext.Root();

    [Theory]
    [InlineData(false, null, true)]     // the default, 64KB
    [InlineData(false, "200KB", true)]  // only the 256 KiB pieces of the 1 MiB reads
    [InlineData(false, "0", false)]     // off: copied as before
    [InlineData(true, null, false)]     // TLS: copied through the TLS stream
    public async Task Reads_of_every_size_and_offset_come_back_intact(bool tls, string? readSplice, bool spliced)
    {
        var options = tls ? f.Certs.ServerOptions : [];
        if (readSplice is not null) options["read-splice"] = readSplice;
        await using var brick = await InProcessBrick.StartAsync(options);
        var (g, c) = await brick.ConnectAsync(new(tls ? f.Certs.ClientOptions() : []) { ["ping-timeout"] = "0" });
        var fd = await ReadsOfEveryShape.CreateAsync(c, g.Inodes, "f");
        long before = brick.Server.ReadsSpliced;

        await ReadsOfEveryShape.ReadAllAsync(c, fd);

        long n = brick.Server.ReadsSpliced - before;
        if (!spliced) Assert.Equal(0, n);
        else
        {
            Assert.True(n >= ReadsOfEveryShape.Offsets.Length, $"only {n} reads spliced");
            // Below the threshold a read is copied: one 100,000-byte read is one piece of that size.
            long at = brick.Server.ReadsSpliced;
            Assert.True((await c.ReadvAsync(Root, fd, new byte[100_000], 0)).Ok);
            Assert.Equal(readSplice is null ? 1 : 0, brick.Server.ReadsSpliced - at);
        }
        Assert.Equal(1, c.Connects);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// Truncates (to anywhere in the file) and rewrites race 1 MiB reads: a read may end early, and a page the
    /// truncate zeroed may read as zeros, but no read ever gives a byte the file never had (a page freed by the
    /// truncate and reused elsewhere would), and the connection stays up.
    /// </summary>
    [Fact]
    public async Task A_read_racing_truncates_gets_only_the_files_bytes_and_keeps_its_connection()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await ReadsOfEveryShape.CreateAsync(c, g.Inodes, "f");
        const long Whole = ReadsOfEveryShape.Size;
        var whole = new byte[Whole];
        for (long i = 0; i < Whole; i++) whole[i] = ReadsOfEveryShape.At(i);
        long before = brick.Server.ReadsSpliced;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        int truncates = 0, shortReads = 0, reads = 0;

        var truncater = Task.Run(async () =>
        {
            var rnd = new Random(1);
            while (!stop.IsCancellationRequested)
            {
                long to = rnd.NextInt64(0, Whole);
                Assert.True((await c.FsetattrAsync(Root, fd, new SetAttr { Valid = SetAttrValid.Size, Size = to })).Ok);
                truncates++;
                for (long at = to & ~4095L; at < Whole; at += 1 << 20)
                {
                    int n = (int)Math.Min(1 << 20, Whole - at);
                    Assert.True((await c.WritevAsync(Root, fd, whole.AsMemory((int)at, n), at)).Ok);
                }
            }
        });
        async Task ReadAsync(int seed)
        {
            var rnd = new Random(seed);
            var buf = new byte[1 << 20];
            while (!stop.IsCancellationRequested)
            {
                long at = rnd.NextInt64(0, Whole - 1);
                var r = await c.ReadvAsync(Root, fd, buf, at);
                Assert.True(r.Ok, $"read at {at}: {r.Error.Name()}");
                Interlocked.Increment(ref reads);
                if (r.Value < Math.Min(buf.Length, Whole - at)) Interlocked.Increment(ref shortReads);
                for (int i = 0; i < r.Value; i++)
                    if (buf[i] != whole[at + i] && buf[i] != 0) Assert.Fail($"read at {at}: byte {at + i} is {buf[i]}: neither the file's {whole[at + i]} nor zero");
            }
        }
        await Task.WhenAll(truncater, ReadAsync(2), ReadAsync(3)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(truncates > 0 && reads > 10, $"{truncates} truncates, {reads} reads");
        Assert.True(brick.Server.ReadsSpliced - before > 10, $"only {brick.Server.ReadsSpliced - before} reads spliced");
        Assert.Equal(1, c.Connects);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// A splice that fails after the frame's header and part of its data left (injected): the brick drops the
    /// connection, so the client never takes other bytes for the rest of the frame. Its read fails (ENOTCONN), it
    /// reconnects, and the same read then comes back intact.
    /// </summary>
    [Fact]
    public async Task A_failure_after_the_header_drops_the_connection_instead_of_corrupting_the_stream()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var fail = new StrongBox();
        brick.Server.FailSplice = () => fail.Value;
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0", ["reconnect-min-backoff"] = "20ms" });
        var fd = await ReadsOfEveryShape.CreateAsync(c, g.Inodes, "f");
        var buf = new byte[256 << 10];

        fail.Value = true;
        var r = await c.ReadvAsync(Root, fd, buf, 0).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        fail.Value = false;

        Assert.False(r.Ok, $"the read gave {r.Value} bytes from a broken frame");
        Assert.Equal(Errno.ENOTCONN, r.Error);
        await ClientGraphs.Until(() => c.Connects == 2 && c.IsConnected, "the client's reconnect");
        buf.AsSpan().Fill(0xEE);
        var again = await c.ReadvAsync(Root, fd, buf, 4096);
        Assert.True(again.Ok && again.Value == buf.Length, $"read after the reconnect: {again.Error.Name()} {again.Value}");
        for (int i = 0; i < buf.Length; i++) Assert.Equal(ReadsOfEveryShape.At(4096 + i), buf[i]);
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    /// <summary>
    /// 24 reads of 1 MiB asked for before any reply is read: more than both sockets' buffers hold, so the brick's socket
    /// fills part way through a spliced reply. The rest of that reply is copied out of its pipe and queued, the replies
    /// behind it go the usual way, and every reply is whole and intact when the client reads them all.
    /// </summary>
    [Fact]
    public async Task Replies_the_socket_cannot_take_now_are_copied_out_of_their_pipes_intact()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (g, c) = await brick.ConnectAsync(new() { ["ping-timeout"] = "0" });
        var fd = await ReadsOfEveryShape.CreateAsync(c, g.Inodes, "f");
        await using var raw = await RawClient.ConnectAsync(brick.Port);
        Assert.Equal(Errno.OK, (await raw.HandshakeAsync("brick", TestSecret.Bytes))?.Error);
        var caller = new WireCaller { Groups = [] };
        var opened = await raw.CallAsync(new FopRequest(FopOp.Open) { Caller = caller, Loc = new WireLoc(fd.Inode.Gfid, default, null), Flags = OpenFlags.O_RDONLY });
        Assert.Equal(Errno.OK, opened.Error);
        const int Reads = 24;
        // Page-aligned (a 1 MiB pipe holds an aligned 1 MiB range, not an unaligned one); the last ones run over the end of the file.
        long At(int i) => i * (100L << 10);
        for (int i = 0; i < Reads; i++)
        {
            var w = new BodyWriter();
            var flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Readv) { Caller = caller, Fd = opened.Fd, Offset = At(i), Size = 1 << 20 });
            await raw.SendAsync(RawClient.Frame(FrameType.Request, FopOp.Readv, 1000 + (ulong)i, w, flags));
        }
        await ClientGraphs.Until(() => brick.Server.SplicesCopied > 0, "a spliced reply the socket could not take whole");

        for (int n = 0; n < Reads; n++)
        {
            var f = await raw.ReadFrameAsync(timeoutMs: 30_000);
            Assert.True(f is { Header.Type: FrameType.Reply, Header.Op: FopOp.Readv } && f.Value.Header.Id is >= 1000 and < 1000 + Reads, $"reply {n}: {f?.Header}");
            int i = (int)(f!.Value.Header.Id - 1000);
            Assert.True(FopCodec.TryReadReply(FopOp.Readv, f.Value.Header.Flags, f.Value.Body, out var p) && p.Error == Errno.OK, $"read {i}");
            int want = (int)Math.Clamp(ReadsOfEveryShape.Size - At(i), 0, 1 << 20);
            Assert.Equal(want, p.Data.Length);
            var data = p.Data.Span;
            for (int k = 0; k < want; k++)
                if (data[k] != ReadsOfEveryShape.At(At(i) + k)) Assert.Fail($"read {i}: byte {At(i) + k} is {data[k]}, the file has {ReadsOfEveryShape.At(At(i) + k)}");
        }
        Assert.True(brick.Server.ReadsSpliced >= Reads, $"only {brick.Server.ReadsSpliced} reads spliced");
        await FopScenario.Release(c, fd);
        await g.StopAsync();
    }

    private sealed class StrongBox { public volatile bool Value; }
}
