using System.Net;
using System.Net.Sockets;
using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// An Upcall frame the client cannot read — an unknown kind or flag, a short or long body, a bad name — is dropped
/// and counted; the connection stays, and the notices after it arrive. (A notice only ever makes a client drop
/// cached state, so a newer brick may send kinds an older client does not know.) The brick here is a raw socket
/// that speaks the handshake and then sends what it likes.
/// </summary>
public sealed class UnreadableNoticesKeepTheConnection
{
    [Fact]
    public async Task Bad_and_unknown_notices_are_dropped_and_later_ones_arrive()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var g = Graph.Linear(1, (ProtocolClient.Spec, "client", new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1", ["remote-port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["remote-subvolume"] = "brick",
        }));
        var notices = new List<UpcallNotice>();
        var events = new List<GraphEvent>();
        g.Upcall += n => { lock (notices) notices.Add(n); };
        g.TopEvent += ev => { lock (events) events.Add(ev); };
        var up = g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var socket = await listener.AcceptSocketAsync(cts.Token);
        var fc = new FrameConnection(socket);
        var hello = await HandshakeIo.ReadFrameAsync(fc.Input, Handshake.MaxBody, cts.Token);
        Assert.Equal(UpcallCodec.Feature, Handshake.ReadHello(hello.Body!)!.Features & UpcallCodec.Feature); // asked for by default
        var w = new BodyWriter();
        Handshake.Write(w, new Handshake.Challenge(Handshake.NewNonce(), false));
        fc.WriteFrame(FrameType.Challenge, FrameFlags.None, FopOp.None, 0, w);
        Assert.True((await HandshakeIo.ReadFrameAsync(fc.Input, Handshake.MaxBody, cts.Token)).Ok);
        w.Reset();
        Handshake.Write(w, new Handshake.Welcome(Errno.OK, false, [], Handshake.NewToken(), "", UpcallCodec.Feature));
        fc.WriteFrame(FrameType.Welcome, FrameFlags.None, FopOp.None, 0, w);
        Assert.True(await up, "client did not come up");

        var f = Core.Gfid.NewGfid();
        Send(fc, [9, 0, .. Bytes(f), 0xFF, 0xFF, 0xFF, 0xFF]);                 // an unknown kind
        Send(fc, [1, 0x80, .. Bytes(f), 0xFF, 0xFF, 0xFF, 0xFF]);              // an unknown flag
        Send(fc, [1, 0]);                                                      // short
        Send(fc, [1, 0, .. Bytes(f), 0xFF, 0xFF, 0xFF, 0xFF, 7]);              // trailing byte
        Send(fc, [2, 0, .. Bytes(f), 2, 0, 0, 0, (byte)'.', (byte)'.']);       // an entry named ".."
        w.Reset();
        UpcallCodec.Write(w, UpcallNotice.Entry(f, "x"));
        fc.WriteFrame(FrameType.Upcall, FrameFlags.None, FopOp.None, 0, w);

        await ClientGraphs.Until(() => { lock (notices) return notices.Count > 0; }, "the readable notice after the bad ones");
        lock (notices) Assert.Equal([UpcallNotice.Entry(f, "x")], notices);
        lock (events) Assert.DoesNotContain(GraphEvent.ChildDown, events);
        Assert.False(fc.IsClosed);

        fc.Close("test over");
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(30));
        await g.DestroyAsync();
    }

    private static byte[] Bytes(Gfid g)
    {
        var w = new BodyWriter(16);
        w.Gfid(g);
        var b = w.Written.ToArray();
        w.Reset();
        return b;
    }

    private static void Send(FrameConnection fc, byte[] body)
    {
        var w = new BodyWriter();
        w.Raw(body);
        fc.WriteFrame(FrameType.Upcall, FrameFlags.None, FopOp.None, 0, w);
    }
}
