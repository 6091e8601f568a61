using System.Buffers.Binary;
using System.Net.Sockets;
using Graft.Core;
using Xunit.Abstractions;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Wire;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// ≥100,000 random and mutated frames (truncated and huge lengths, unknown opcodes and frame
/// types, bad and replayed ids, garbage xdata and bodies, frames before the handshake) thrown at a
/// brick process from many connections, while a well-behaved client keeps writing, reading and
/// checking its own file: the brick never crashes and the good client sees no error.
/// </summary>
public class FuzzedFramesDoNotHurtTheBrick(ITestOutputHelper output)
{
    private const int TargetFrames = 110_000;

    [Fact]
    public async Task A_brick_survives_100k_bad_frames_and_its_good_client_sees_no_error()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--grace-timeout", "1");
        var g = await NetClient.ConnectAsync(brick.Port, "b");
        var good = (ProtocolClient)g.Top;

        using var stop = new CancellationTokenSource();
        var goodErrors = new List<string>();
        long goodOps = 0;
        var goodLoop = Task.Run(async () =>
        {
            var root = FopContext.Root();
            var gfid = Gfid.NewGfid();
            var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
            var cr = await good.CreateAsync(root, Loc.Child(Gfid.Root, "good-client-file"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
            if (!cr.Ok) { lock (goodErrors) goodErrors.Add("create " + cr.Error.Name()); return; }
            var rng = new Random(99);
            var data = new byte[4096];
            var back = new byte[4096];
            while (!stop.IsCancellationRequested)
            {
                rng.NextBytes(data);
                long off = rng.Next(0, 256) * 4096L;
                var w = await good.WritevAsync(root, fd, data, off);
                var r = await good.ReadvAsync(root, fd, back, off);
                var s = await good.FstatAsync(root, fd);
                var l = await good.LookupAsync(root, Loc.Child(Gfid.Root, "good-client-file"));
                string? err = !w.Ok ? "writev " + w.Error.Name() : !r.Ok ? "readv " + r.Error.Name() : !s.Ok ? "fstat " + s.Error.Name()
                    : !l.Ok ? "lookup " + l.Error.Name() : r.Value != 4096 || !data.AsSpan().SequenceEqual(back) ? "data mismatch"
                    : l.Value.Gfid != gfid ? "lookup gfid mismatch" : null;
                if (err is not null) lock (goodErrors) goodErrors.Add(err);
                Interlocked.Increment(ref goodOps);
            }
            await FopScenario.Release(good, fd);
        });

        long sent = 0;
        var fuzzers = Enumerable.Range(0, 4).Select(seed => Task.Run(async () =>
        {
            var rng = new Random(seed * 7919 + 1);
            while (Interlocked.Read(ref sent) < TargetFrames)
                Interlocked.Add(ref sent, await FuzzOneConnectionAsync(brick.Port, rng));
        })).ToList();
        await Task.WhenAll(fuzzers).WaitAsync(TimeSpan.FromMinutes(5));
        await NetClient.Until(() => Interlocked.Read(ref goodOps) > 100, "the good client made progress");
        stop.Cancel();
        await goodLoop.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(sent >= 100_000, $"only {sent} frames sent");
        var closes = brick.Log.Count(l => l.Contains("closing connection", StringComparison.Ordinal));
        output.WriteLine($"{sent} frames sent; brick closed {closes} connections for bad frames; good client did {goodOps} rounds");
        // An exception inside the brick is logged at error level ("fail:"): a bug even if it survived.
        Assert.DoesNotContain(brick.Log, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
        Assert.True(closes > 500, $"only {closes} connections were closed for bad frames");
        Assert.False(brick.HasExited, "the brick crashed:\n" + string.Join('\n', brick.Log.TakeLast(30)));
        lock (goodErrors) Assert.True(goodErrors.Count == 0, $"good client errors ({goodErrors.Count}): {string.Join(", ", goodErrors.Distinct().Take(10))}");
        Assert.True((await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);
        await g.StopAsync();
        Assert.Equal(0, await brick.StopAsync());
        Directory.Delete(temp, true);
    }

    /// <summary>
    /// One connection: usually a proper handshake, then a run of structurally valid requests with
    /// random arguments, ended by one broken frame; sometimes garbage before any handshake. Replies
    /// are drained so the brick never blocks on us. Returns the frames sent.
    /// </summary>
    private static async Task<int> FuzzOneConnectionAsync(int port, Random rng)
    {
        await using var raw = await RawClient.ConnectAsync(port);
        var s = raw.Socket;
        var frames = new List<byte[]>();
        ulong id = 0;
        int handshake = 0;
        if (rng.Next(10) == 0)
        {
            // Out of sequence: anything but a hello first.
            frames.Add(RandomFrame(rng, ref id));
        }
        else
        {
            // A real handshake (the brick asks for the test secret), so the requests reach the fops.
            if ((await raw.HandshakeAsync("b", TestSecret.Bytes, generation: rng.Next()))?.Error != Errno.OK) return 2;
            handshake = 2;
            int n = rng.Next(1, 300);
            for (int i = 0; i < n; i++) frames.Add(ValidRequest(rng, ++id));
            frames.Add(RandomFrame(rng, ref id));
        }
        var drain = DrainAsync(s);
        try
        {
            foreach (var f in frames) await s.SendAsync(f, SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException) { }   // the brick closed on us early: expected
        await drain.WaitAsync(TimeSpan.FromSeconds(30));
        return handshake + frames.Count;
    }

    private static byte[] Frame(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter body)
    {
        var bytes = new byte[FrameHeader.Size + body.TotalLength];
        new FrameHeader(type, flags, op, id, body.TotalLength).Write(bytes);
        body.Written.CopyTo(bytes.AsSpan(FrameHeader.Size));
        body.Bulk.Span.CopyTo(bytes.AsSpan(FrameHeader.Size + body.Length));
        return bytes;
    }

    private static async Task DrainAsync(Socket s)
    {
        var buf = new byte[64 << 10];
        try { while (await s.ReceiveAsync(buf, SocketFlags.None) > 0) { } }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private static readonly FopOp[] SafeOps =
    [
        FopOp.Lookup, FopOp.Stat, FopOp.Fstat, FopOp.Setattr, FopOp.Access, FopOp.Readlink, FopOp.Mknod, FopOp.Mkdir,
        FopOp.Unlink, FopOp.Rmdir, FopOp.Symlink, FopOp.Rename, FopOp.Link, FopOp.Create, FopOp.Open, FopOp.Readv,
        FopOp.Writev, FopOp.Flush, FopOp.Fsync, FopOp.Lseek, FopOp.Opendir, FopOp.Readdir, FopOp.Readdirp,
        FopOp.Fsyncdir, FopOp.Statfs, FopOp.Setxattr, FopOp.Getxattr, FopOp.Listxattr, FopOp.Removexattr,
        FopOp.Fsetxattr, FopOp.Fgetxattr, FopOp.Flistxattr, FopOp.Fremovexattr, FopOp.Release, FopOp.Releasedir,
        FopOp.RebindLocks,
    ];

    private static readonly string[] Names = ["fz0", "fz1", "fz2", "fz3", "fzdir", "fz link", "fz-ü"];

    /// <summary>
    /// A request that decodes, with random GFIDs, fds, names, offsets and sizes, confined to fuzz
    /// names. (fallocate, copy_file_range and locks are left out: with random sizes they would
    /// fill the disk or block forever, which tests the filesystem, not the protocol.)
    /// </summary>
    private static byte[] ValidRequest(Random rng, ulong id)
    {
        var op = SafeOps[rng.Next(SafeOps.Length)];
        Gfid G() => rng.Next(4) == 0 ? Gfid.Root : new Gfid((ulong)rng.NextInt64(), (ulong)rng.NextInt64());
        string N() => Names[rng.Next(Names.Length)];
        var q = new FopRequest(op)
        {
            Caller = new WireCaller { Uid = (uint)rng.Next(0, 3) * 1000, Gid = (uint)rng.Next(0, 3), Groups = [], Pid = rng.Next() },
            Loc = rng.Next(2) == 0 ? new WireLoc(G(), default, null) : new WireLoc(default, Gfid.Root, N()),
            Loc2 = new WireLoc(default, Gfid.Root, N()),
            Fd = (ulong)rng.Next(0, 6), Flags = rng.Next(0, 4) | (rng.Next(2) * OpenFlags.O_CREAT), Mode = (uint)rng.Next(0, 0x1ff) | PosixMode.S_IFREG,
            Umask = 0x12, NewGfid = G(), Offset = rng.Next(0, 1 << 20), Size = (uint)rng.Next(0, 1 << 16),
            Name = rng.Next(2) == 0 ? "user.fz" : "trusted.graft.gfid", Data = new byte[rng.Next(0, 4096)],
            Attr = new SetAttr { Valid = (SetAttrValid)rng.Next(0, 512) & ~SetAttrValid.Size, Mode = (uint)rng.Next(0, 0xfff), Size = rng.Next(0, 1 << 20) },
        };
        if (op == FopOp.Lookup && rng.Next(8) == 0) { q.Xdata = new Xdata(); q.Xdata.SetString("fz", "x"); }
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        return Frame(FrameType.Request, flags, op, id, w);
    }

    /// <summary>A frame broken in one of the ways a bad or hostile peer breaks them.</summary>
    private static byte[] RandomFrame(Random rng, ref ulong id)
    {
        var f = ValidRequest(rng, ++id);
        switch (rng.Next(10))
        {
            case 0: // truncated length: the frame claims less than it carries, the rest is read as a new frame
                BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)rng.Next(0, f.Length - 4));
                return f;
            case 1: // huge length
                BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)rng.NextInt64(FrameHeader.MaxBody + 13, uint.MaxValue));
                return f;
            case 2: // unknown opcode
                BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(6), (ushort)rng.Next((int)FopOps.Last + 1, 65536));
                return f;
            case 3: // a replayed or zero request id
                BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(8), (ulong)rng.NextInt64(0, (long)id));
                return f;
            case 4: // garbage xdata: the flag set over bytes that are not xdata
                f[5] = (byte)FrameFlags.Xdata;
                rng.NextBytes(f.AsSpan(FrameHeader.Size + 20, Math.Min(32, f.Length - FrameHeader.Size - 20)));
                return f;
            case 5: // unknown frame type or flags
                f[4] = (byte)rng.Next((int)FrameType.Cancel + 1, 256);
                if (rng.Next(2) == 0) { f[4] = (byte)FrameType.Request; f[5] = (byte)rng.Next(2, 256); }
                return f;
            case 6: // a frame only the server sends, or a second hello
                f[4] = (byte)(rng.Next(2) == 0 ? FrameType.Reply : FrameType.Hello);
                return f;
            case 7: // random bytes in the body
                for (int i = rng.Next(1, 8); i > 0; i--) f[rng.Next(FrameHeader.Size, f.Length)] = (byte)rng.Next(256);
                return f;
            case 8: // body cut short but the length adjusted to match
            {
                int cut = rng.Next(1, f.Length - FrameHeader.Size + 1);
                var t = f[..^cut];
                BinaryPrimitives.WriteUInt32LittleEndian(t, (uint)(t.Length - 4));
                return t;
            }
            default: // pure noise
            {
                var n = new byte[rng.Next(1, 256)];
                rng.NextBytes(n);
                return n;
            }
        }
    }
}
