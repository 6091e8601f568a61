using System.Globalization;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;
using Graft.EndToEnd.Tests.Retirement;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A brick's plaintext connection never joins .NET's socket engine: its look at the first bytes (which must wait
/// here, the client saying nothing for a while) and the replies its socket cannot take whole (the client reading
/// nothing until 24 MiB of them are asked for) wait in Graft's own one-shot epoll set. So the engine's epoll thread,
/// which wakes for every packet of every socket it has ever seen, sleeps through the client's requests after them;
/// before, it woke about once per request.
/// </summary>
public class PlaintextConnectionsStayOutOfTheSocketEngine
{
    [Fact]
    public async Task The_engine_thread_of_the_brick_sleeps_through_a_clients_requests()
    {
        await using var l = await LibraryOverABrickProcess.StartAsync();
        await l.Volume.WriteAllBytesAsync("/big", new byte[1 << 20]);

        await using var raw = await RawClient.ConnectAsync(l.Brick.Port);
        // The brick is looking at the connection's first bytes now, and none have come: that look must wait.
        await Task.Delay(300);
        long before = EngineSwitches(l.Brick.Pid);
        Assert.Equal(Errno.OK, (await raw.HandshakeAsync(NetVolume.Brick, TestSecret.Bytes))?.Error);
        var found = await raw.CallAsync(new FopRequest(FopOp.Lookup) { Caller = Root, Loc = new WireLoc(default, Gfid.Root, "big") });
        Assert.Equal(Errno.OK, found.Error);
        var opened = await raw.CallAsync(new FopRequest(FopOp.Open) { Caller = Root, Loc = new WireLoc(found.Iatt.Gfid, default, null), Flags = OpenFlags.O_RDONLY });
        Assert.Equal(Errno.OK, opened.Error);
        // 24 reads of 1 MiB sent before any reply is read: more than both sockets' buffers hold, so the brick's
        // sends stop part way and wait for room, which comes only as the replies are read below.
        const int Reads = 24;
        for (ulong i = 0; i < Reads; i++)
        {
            var w = new BodyWriter();
            var flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Readv) { Caller = Root, Fd = opened.Fd, Size = 1 << 20 });
            await raw.SendAsync(RawClient.Frame(FrameType.Request, FopOp.Readv, 1000 + i, w, flags));
        }
        for (int i = 0; i < Reads; i++)
        {
            var f = await raw.ReadFrameAsync(timeoutMs: 30_000);
            Assert.True(f is { Header.Type: FrameType.Reply, Header.Op: FopOp.Readv }, $"reply {i} of {Reads}: {f?.Header}");
            Assert.True(FopCodec.TryReadReply(FopOp.Readv, f!.Value.Header.Flags, f.Value.Body, out var p) && p.Error == Errno.OK && p.Data.Length == 1 << 20);
        }
        // Requests after all that: a socket the engine had taken in would wake its thread for each.
        const int Stats = 200;
        for (ulong i = 0; i < Stats; i++)
        {
            // Ids go on from the reads' (they must increase on a connection).
            var w = new BodyWriter();
            var flags = FopCodec.WriteRequest(w, new FopRequest(FopOp.Stat) { Caller = Root, Loc = new WireLoc(Gfid.Root, default, null) });
            await raw.SendAsync(RawClient.Frame(FrameType.Request, FopOp.Stat, 2000 + i, w, flags));
            var f = await raw.ReadFrameAsync();
            Assert.True(f is { Header.Type: FrameType.Reply, Header.Op: FopOp.Stat } && f.Value.Header.Id == 2000 + i, $"stat {i}: {f?.Header}");
        }
        long woke = EngineSwitches(l.Brick.Pid) - before;

        Assert.True(woke < Stats / 10, $"the brick's socket engine thread switched {woke} times during {Stats + Reads + 3} requests");
    }

    private static WireCaller Root => new() { Groups = [] };

    /// <summary>Context switches so far of the brick's ".NET Sockets" thread (0 while it has none).</summary>
    private static long EngineSwitches(int pid)
    {
        long n = 0;
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            string[] status;
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() != ".NET Sockets") continue;
                status = File.ReadAllLines(Path.Combine(task, "status"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }   // the thread ended meanwhile
            foreach (var line in status)
                if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    n += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
        }
        return n;
    }
}
