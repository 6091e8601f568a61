using System.Buffers;
using System.Net.Sockets;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A client that speaks the wire protocol frame by frame over a real socket, for tests that need
/// what protocol/client never sends on its own (a flood of requests, a ping at a chosen moment, a
/// forged xdata). Frames received are collected by a background reader; every wait is bounded.
/// </summary>
internal sealed class RawWireClient : IAsyncDisposable
{
    private readonly Socket _s;
    private readonly List<(FrameHeader Header, byte[] Body)> _frames = [];   // guarded by itself
    private readonly Task _reader;
    private ulong _nextId;

    private RawWireClient(Socket s)
    {
        _s = s;
        _reader = Task.Run(ReadLoopAsync);
    }

    public static async Task<RawWireClient> ConnectAsync(int port, string brick = "brick", Guid? identity = null)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync("127.0.0.1", port);
        var c = new RawWireClient(s);
        var w = new BodyWriter();
        var hello = new Handshake.Hello(Handshake.Version, identity ?? Guid.NewGuid(), 1, Guid.NewGuid(), brick, Handshake.NewNonce());
        Handshake.Write(w, hello);
        await c.SendAsync(Frame(FrameType.Hello, FrameFlags.None, FopOp.None, 0, w));
        var challenge = Handshake.ReadChallenge((await c.WaitForAsync(f => f.Type == FrameType.Challenge, "challenge")).Body)!;
        var a = new BodyWriter();
        // The test bricks ask for the test secret (a brick without one asks for nothing, and an unasked proof is ignored).
        Handshake.Write(a, new Handshake.Auth(challenge.SecretRequired ? Handshake.Proof(TestSecret.Bytes, Handshake.ClientRole, hello, challenge.ServerNonce) : [], []));
        await c.SendAsync(Frame(FrameType.Auth, FrameFlags.None, FopOp.None, 0, a));
        var welcome = await c.WaitForAsync(f => f.Type == FrameType.Welcome, "welcome");
        Assert.Equal(Errno.OK, Handshake.ReadWelcome(welcome.Body)!.Error);
        return c;
    }

    public static byte[] Frame(FrameType t, FrameFlags f, FopOp op, ulong id, BodyWriter? w) =>
        RawClient.Frame(t, op, id, w, f);

    /// <summary>The frame of request <paramref name="q"/> with the next request id (returned).</summary>
    public (byte[] Frame, ulong Id) Request(FopRequest q)
    {
        q.Caller.Groups ??= [];
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        var id = ++_nextId;
        return (Frame(FrameType.Request, flags, q.Op, id, w), id);
    }

    public async Task SendAsync(byte[] frame)
    {
        var m = frame.AsMemory();
        while (!m.IsEmpty) m = m[await _s.SendAsync(m, SocketFlags.None)..];
    }

    /// <summary>Sends <paramref name="q"/> and returns its id (the reply is collected like any frame).</summary>
    public async Task<ulong> SendAsync(FopRequest q)
    {
        var (f, id) = Request(q);
        await SendAsync(f);
        return id;
    }

    public Task PingAsync(ulong seq) => SendAsync(Frame(FrameType.Ping, FrameFlags.None, FopOp.None, seq, null));

    /// <summary>The first frame received that matches (waiting for it, bounded).</summary>
    public async Task<(FrameHeader Header, byte[] Body)> WaitForAsync(Func<FrameHeader, bool> match, string what, double seconds = 10)
    {
        var deadline = Environment.TickCount64 + (long)(seconds * 1000);
        while (true)
        {
            lock (_frames) foreach (var f in _frames) if (match(f.Header)) return f;
            Assert.True(Environment.TickCount64 < deadline, $"timed out waiting for {what}");
            Assert.False(_reader.IsCompleted, $"the brick closed the connection before {what}");
            await Task.Delay(5);
        }
    }

    /// <summary>The reply to request <paramref name="id"/>, decoded.</summary>
    public async Task<FopReply> ReplyAsync(ulong id, FopOp op, double seconds = 10)
    {
        var (h, body) = await WaitForAsync(f => f.Type == FrameType.Reply && f.Id == id, $"the reply to request {id}", seconds);
        Assert.True(FopCodec.TryReadReply(op, h.Flags, body, out var reply), $"malformed reply to {id}");
        return reply;
    }

    public int Count(Func<FrameHeader, bool> match)
    {
        lock (_frames) return _frames.Count(f => match(f.Header));
    }

    private async Task ReadLoopAsync()
    {
        var buf = new byte[1 << 16];
        var pending = new List<byte>();
        while (true)
        {
            int n;
            try { n = await _s.ReceiveAsync(buf, SocketFlags.None); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            if (n == 0) return;
            pending.AddRange(buf.AsSpan(0, n));
            var seq = new ReadOnlySequence<byte>(pending.ToArray());
            long used = 0;
            while (FrameHeader.TryRead(ref seq, out var h, out var body, out _))
            {
                lock (_frames) _frames.Add((h, body.ToArray()));
                used += FrameHeader.Size + h.BodyLength;
            }
            pending.RemoveRange(0, (int)used);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { _s.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
        _s.Dispose();
        try { await _reader.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
    }
}
