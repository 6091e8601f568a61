using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A frame with a big bulk payload leaves in one gather send straight from the caller's memory; when
/// the socket takes only part of it (the peer reads late), the rest and every frame behind it are
/// queued. The peer must still see every frame whole, byte for byte, in the order they were written,
/// and the caller's buffer is free to reuse as soon as the write returns.
/// </summary>
public class BigFramesLeaveWholeAndInOrder
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Frames_written_while_the_peer_does_not_read_arrive_whole_and_in_order()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await sender.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Bound);
        using var receiver = await listener.AcceptAsync().WaitAsync(Bound);
        var conn = new FrameConnection(sender);

        // 24 MiB of 1 MiB frames (far beyond both socket buffers, so sends go partial and queue),
        // with a small frame between each two. One payload buffer, rewritten after every write.
        const int frames = 24;
        var payload = new byte[1 << 20];
        var body = new BodyWriter();
        for (int i = 0; i < frames; i++)
        {
            Fill(payload, i);
            body.Reset();
            body.U32((uint)i);
            body.WriteBulk(payload);
            Assert.True(conn.WriteFrame(FrameType.Request, FrameFlags.None, FopOp.Writev, (ulong)(2 * i + 1), body));
            body.Reset();
            body.U32((uint)i);
            Assert.True(conn.WriteFrame(FrameType.Request, FrameFlags.None, FopOp.Fsync, (ulong)(2 * i + 2), body));
        }

        var expected = frames * (2L * (FrameHeader.Size + 4) + 4 + payload.Length);
        var got = new byte[expected];
        int have = 0;
        using var cts = new CancellationTokenSource(Bound);
        while (have < got.Length)
        {
            int n = await receiver.ReceiveAsync(got.AsMemory(have), SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"connection ended after {have} of {expected} bytes");
            have += n;
        }

        var seq = new ReadOnlySequence<byte>(got);
        var want = new byte[payload.Length];
        for (int i = 0; i < frames; i++)
        {
            Assert.True(FrameHeader.TryRead(ref seq, out var big, out var bigBody, out _), $"frame {2 * i + 1}");
            Assert.Equal((FopOp.Writev, (ulong)(2 * i + 1), 8 + payload.Length), (big.Op, big.Id, big.BodyLength));
            var b = bigBody.ToArray();
            Assert.Equal(i, BitConverter.ToInt32(b, 0));
            Assert.Equal(payload.Length, BitConverter.ToInt32(b, 4));
            Fill(want, i);
            Assert.True(want.AsSpan().SequenceEqual(b.AsSpan(8)), $"payload of frame {2 * i + 1} differs");
            Assert.True(FrameHeader.TryRead(ref seq, out var small, out var smallBody, out _), $"frame {2 * i + 2}");
            Assert.Equal((FopOp.Fsync, (ulong)(2 * i + 2)), (small.Op, small.Id));
            Assert.Equal(i, BitConverter.ToInt32(smallBody.ToArray(), 0));
        }
        Assert.Equal(0, seq.Length);
        conn.Close("done");
    }

    private static void Fill(byte[] b, int seed) => new Random(seed).NextBytes(b);
}
