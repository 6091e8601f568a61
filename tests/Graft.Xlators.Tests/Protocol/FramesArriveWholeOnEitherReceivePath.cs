using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A plaintext connection receives on a thread of its own (blocked in the socket) or, with receiveThread off, through
/// the socket engine and the thread pool. Either way the owner's reader must see every frame whole and in order though
/// the bytes arrive in odd pieces, the largest frame included (the receive pipe pauses only past several of them), and
/// must see the end: completion when the peer closes, a cancelled read when the connection is closed here.
/// </summary>
public class FramesArriveWholeOnEitherReceivePath
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Frames_sent_in_odd_pieces_arrive_whole_and_in_order_then_the_end(bool receiveThread, bool keepBigBodies)
    {
        var (conn, peer) = await PairAsync(receiveThread, keepBigBodies);
        using var owned = peer;
        // 40 frames, every fifth one of the largest body, sent in pieces of 1 to 70,001 bytes.
        var sizes = Enumerable.Range(0, 40).Select(i => i % 5 == 0 ? FrameHeader.MaxBody : 7 * i).ToArray();
        var wire = new List<byte>();
        for (int i = 0; i < sizes.Length; i++)
        {
            var frame = new byte[FrameHeader.Size + sizes[i]];
            new FrameHeader(FrameType.Reply, FrameFlags.None, FopOp.Stat, (ulong)i + 1, sizes[i]).Write(frame);
            for (int j = FrameHeader.Size; j < frame.Length; j++) frame[j] = (byte)(i + j);
            wire.AddRange(frame);
        }
        var bytes = wire.ToArray();
        var sending = Task.Run(async () =>
        {
            var rng = new Random(7);
            for (int at = 0; at < bytes.Length;)
            {
                int n = Math.Min(bytes.Length - at, 1 + rng.Next(70_001));
                await peer.SendAsync(bytes.AsMemory(at, n), SocketFlags.None);
                at += n;
            }
            peer.Shutdown(SocketShutdown.Send);
        });

        int seen = 0, kept = 0;
        using var cts = new CancellationTokenSource(Bound);
        while (true)
        {
            var res = await conn.Input.ReadAsync(cts.Token);
            var buf = res.Buffer;
            while (FrameHeader.TryRead(ref buf, out var h, out var body, out _))
            {
                Assert.Equal(((ulong)seen + 1, sizes[seen]), (h.Id, h.BodyLength));
                if (keepBigBodies && body.Length >= FrameConnection.KeepMin && body.First.Length == body.Length && ReceiveBuffer.TryHold(body.First) is { } held)
                {
                    kept++;
                    held.Release();
                }
                var b = body.ToArray();
                for (int j = 0; j < b.Length; j++)
                    if (b[j] != (byte)(seen + j + FrameHeader.Size)) Assert.Fail($"frame {seen + 1}: byte {j} differs");
                seen++;
            }
            conn.Input.AdvanceTo(buf.Start, buf.End);
            if (res.IsCompleted) break;
        }
        Assert.Equal(sizes.Length, seen);
        // Kept whole in one receive buffer: each big frame whose length field arrived in one receive (pieces of up to 70,001
        // bytes end inside one of the 8 big frames' length fields now and then, and such a frame is split as before).
        if (keepBigBodies) Assert.True(kept >= 4, $"{kept} of 8 big frames arrived whole in one receive buffer");
        await sending.WaitAsync(Bound);
        conn.Close("done");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Closing_here_ends_a_read_that_waits(bool receiveThread)
    {
        var (conn, peer) = await PairAsync(receiveThread);
        using var owned = peer;
        var read = conn.Input.ReadAsync().AsTask();
        conn.Close("done");
        var res = await read.WaitAsync(Bound);
        Assert.True(res.IsCanceled || res.IsCompleted);
    }

    private static async Task<(FrameConnection, Socket)> PairAsync(bool receiveThread, bool keepBigBodies = false)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var mine = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await mine.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Bound);
        var peer = await listener.AcceptAsync().WaitAsync(Bound);
        return (new FrameConnection(mine, null, receiveThread, keepBigBodies), peer);
    }
}
