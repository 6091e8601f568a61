using System.Buffers.Binary;
using System.Net.Sockets;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A malformed, oversized or out-of-sequence frame closes the one connection that sent it, with a
/// log line; the brick and its other clients carry on.
/// </summary>
public class BadFramesCloseOnlyTheirConnection
{
    public enum Bad { Oversized, UnknownOpcode, ReplayedId, ZeroId, RequestBeforeHandshake, TruncatedBody, ReplyFromClient, SecondHello, UnknownFrameType }

    private static byte[] Frame(FrameType t, FrameFlags f, FopOp op, ulong id, BodyWriter? w) => RawWireClient.Frame(t, f, op, id, w);

    private static byte[] Stat(ulong id)
    {
        var w = new BodyWriter();
        FopCodec.WriteRequest(w, new FopRequest(FopOp.Stat) { Caller = new WireCaller { Groups = [] }, Loc = new WireLoc(Gfid.Root, default, null) });
        return Frame(FrameType.Request, FrameFlags.None, FopOp.Stat, id, w);
    }

    private static byte[] Hello()
    {
        var w = new BodyWriter();
        Handshake.Write(w, new Handshake.Hello(Handshake.Version, Guid.NewGuid(), 1, Guid.NewGuid(), "brick", Handshake.NewNonce()));
        return Frame(FrameType.Hello, FrameFlags.None, FopOp.None, 0, w);
    }

    /// <summary>What is sent after the handshake (none for <see cref="Bad.RequestBeforeHandshake"/>).</summary>
    private static IEnumerable<byte[]> Script(Bad bad)
    {
        if (bad == Bad.RequestBeforeHandshake) { yield return Stat(1); yield break; }
        yield return Stat(1);   // a good request first: it is answered
        switch (bad)
        {
            case Bad.Oversized:
                var h = new byte[FrameHeader.Size];
                BinaryPrimitives.WriteUInt32LittleEndian(h, 64u << 20);
                h[4] = (byte)FrameType.Request;
                yield return h;
                break;
            case Bad.UnknownOpcode:
                var u = Stat(2);
                BinaryPrimitives.WriteUInt16LittleEndian(u.AsSpan(6), 999);
                yield return u;
                break;
            case Bad.ReplayedId: yield return Stat(1); break;
            case Bad.ZeroId: yield return Stat(0); break;
            case Bad.TruncatedBody:
                var t = Stat(2)[..^3];
                BinaryPrimitives.WriteUInt32LittleEndian(t, (uint)(t.Length - 4));
                yield return t;
                break;
            case Bad.ReplyFromClient:
                var r = Stat(2);
                r[4] = (byte)FrameType.Reply;
                yield return r;
                break;
            case Bad.SecondHello: yield return Hello(); break;
            case Bad.UnknownFrameType:
                var x = Stat(2);
                x[4] = 77;
                yield return x;
                break;
        }
        yield return Stat(100);   // never answered: the connection is gone
    }

    [Theory]
    [InlineData(Bad.Oversized)]
    [InlineData(Bad.UnknownOpcode)]
    [InlineData(Bad.ReplayedId)]
    [InlineData(Bad.ZeroId)]
    [InlineData(Bad.RequestBeforeHandshake)]
    [InlineData(Bad.TruncatedBody)]
    [InlineData(Bad.ReplyFromClient)]
    [InlineData(Bad.SecondHello)]
    [InlineData(Bad.UnknownFrameType)]
    public async Task The_connection_is_closed_and_another_client_carries_on(Bad bad)
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (good, _) = await brick.ConnectAsync();

        await using var raw = await RawClient.ConnectAsync(brick.Port);
        if (bad != Bad.RequestBeforeHandshake) Assert.Equal(Errno.OK, (await raw.HandshakeAsync("brick", TestSecret.Bytes))?.Error);
        var s = raw.Socket;
        foreach (var f in Script(bad))
        {
            try { await s.SendAsync(f, SocketFlags.None); }
            catch (SocketException) { break; }
        }

        // Read until the brick closes: bounded, and no reply for request 100 arrives before that.
        var got = new List<byte>();
        var buf = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n;
        try { while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) got.AddRange(buf.AsSpan(0, n).ToArray()); }
        catch (SocketException) { }   // a reset is a close too
        Assert.False(cts.IsCancellationRequested, "the brick never closed the connection");
        Assert.DoesNotContain(ReplyIds(got.ToArray()), id => id == 100);

        Assert.True((await good.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok, "the other client was hurt");
        await ClientGraphs.Until(() => brick.Server.ConnectionCount == 1, "only the good connection left");
        await good.StopAsync();
    }

    private static IEnumerable<ulong> ReplyIds(byte[] bytes)
    {
        var seq = new System.Buffers.ReadOnlySequence<byte>(bytes);
        var ids = new List<ulong>();
        while (FrameHeader.TryRead(ref seq, out var h, out _, out _)) if (h.Type == FrameType.Reply) ids.Add(h.Id);
        return ids;
    }
}
