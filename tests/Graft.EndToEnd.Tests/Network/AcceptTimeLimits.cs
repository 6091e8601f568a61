using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using Graft.Core;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Xlators.Protocol.Wire;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>What a refused connection reads: one Welcome with an errno and a reason, then the end.</summary>
internal static class Refusals
{
    public static async Task<Handshake.Welcome> ReadRefusalAsync(this RawClient c)
    {
        var f = await c.ReadFrameAsync();
        Assert.True(f is { Header.Type: FrameType.Welcome }, "no refusal frame before the close");
        var w = Handshake.ReadWelcome(f.Value.Body);
        Assert.NotNull(w);
        Assert.True(await c.ClosedByBrickAsync(), "the brick kept a refused connection open");
        return w;
    }
}

/// <summary>
/// An address outside auth-allow is turned away as soon as it is accepted: before it sends a byte it
/// reads a refusal (EACCES), and the brick counts it in its log.
/// </summary>
public class AddressesOutsideTheAllowListAreRefusedAtAccept
{
    [Fact]
    public async Task The_refusal_comes_before_any_handshake_and_is_counted()
    {
        var dir = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--auth-allow", "127.0.0.2");
        for (int i = 1; i <= 2; i++)
        {
            await using var c = await RawClient.ConnectAsync(brick.Port);
            var w = await c.ReadRefusalAsync();
            Assert.Equal(Errno.EACCES, w.Error);
            Assert.Contains("address not allowed (auth-allow)", w.Reason);
            await brick.WaitForLogAsync($"address not allowed (auth-allow) ({i} so far)");
        }
        // From the allowed address the same brick serves.
        await using var ok = await RawClient.ConnectAsync(brick.Port, bindAddress: "127.0.0.2");
        Assert.Equal(Errno.OK, (await ok.HandshakeAsync(Path.GetFileName(dir), TestSecret.Bytes))?.Error);
        Directory.Delete(dir, true);
    }
}

/// <summary>
/// A handshake frame over its cap (a few hundred bytes) drops the connection before its body is
/// read — at the Hello or at the Auth — and is counted; the brick serves the next client.
/// </summary>
public class OversizedHandshakeFramesDropTheConnection
{
    private static byte[] Oversized(FrameType t)
    {
        var b = new byte[FrameHeader.Size + 600];
        new FrameHeader(t, FrameFlags.None, FopOp.None, 0, 600).Write(b);
        return b;
    }

    [Fact]
    public async Task Hello_and_auth_are_capped()
    {
        var dir = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--name", "b");

        await using (var big = await RawClient.ConnectAsync(brick.Port))
        {
            await big.SendAsync(Oversized(FrameType.Hello));
            Assert.Null(await big.ReadFrameAsync());
        }
        await brick.WaitForLogAsync($"handshake frame with a 600-byte body (at most {Handshake.MaxBody} allowed) (1 so far)");

        await using (var bigAuth = await RawClient.ConnectAsync(brick.Port))
        {
            var w = new BodyWriter();
            Handshake.Write(w, new Handshake.Hello(Handshake.Version, Guid.NewGuid(), 1, Guid.NewGuid(), "b", Handshake.NewNonce()));
            await bigAuth.SendAsync(FrameType.Hello, w);
            Assert.Equal(FrameType.Challenge, (await bigAuth.ReadFrameAsync())?.Header.Type);
            await bigAuth.SendAsync(Oversized(FrameType.Auth));
            Assert.Null(await bigAuth.ReadFrameAsync());
        }
        await brick.WaitForLogAsync("(2 so far)");

        var g = await NetClient.ConnectAsync(brick.Port, "b");
        await g.StopAsync();
        Directory.Delete(dir, true);
    }
}

/// <summary>
/// max-connections-per-address keeps one address from taking every slot; max-connections bounds
/// them all. A connection over either cap reads EAGAIN and why, and is counted; a slot given back
/// is taken by the next connection.
/// </summary>
public class ConnectionsAreCappedPerAddressAndInTotal
{
    [Fact]
    public async Task Over_either_cap_a_connection_is_refused_until_a_slot_frees()
    {
        var dir = BrickProcess.NewTempDir();
        var brickName = Path.GetFileName(dir);
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--max-connections", "3", "--max-connections-per-address", "2");
        var held = new List<RawClient>();
        async Task<RawClient> Admitted(string from)
        {
            var c = await RawClient.ConnectAsync(brick.Port, from);
            Assert.Equal(Errno.OK, (await c.HandshakeAsync(brickName, TestSecret.Bytes))?.Error);
            held.Add(c);
            return c;
        }
        async Task<Handshake.Welcome> Refused(string from)
        {
            await using var c = await RawClient.ConnectAsync(brick.Port, from);
            return await c.ReadRefusalAsync();
        }
        try
        {
            await Admitted("127.0.0.2");
            await Admitted("127.0.0.2");
            var perAddress = await Refused("127.0.0.2");
            Assert.Equal(Errno.EAGAIN, perAddress.Error);
            Assert.Equal("too many connections from 127.0.0.2 (2, max-connections-per-address)", perAddress.Reason);
            await brick.WaitForLogAsync("max-connections-per-address) (1 so far)");

            await Admitted("127.0.0.3");
            var total = await Refused("127.0.0.4");
            Assert.Equal(Errno.EAGAIN, total.Error);
            Assert.Equal("too many connections to this brick (3, max-connections)", total.Reason);
            await brick.WaitForLogAsync("max-connections) (1 so far)");

            // One goes away: its slot is the next connection's (once the brick has seen the close).
            await held[0].DisposeAsync();
            held.RemoveAt(0);
            await NetClient.Until(async () =>
            {
                await using var c = await RawClient.ConnectAsync(brick.Port, "127.0.0.4");
                return (await c.HandshakeAsync(brickName, TestSecret.Bytes))?.Error == Errno.OK;
            }, "a freed slot to be taken");
        }
        finally
        {
            foreach (var c in held) await c.DisposeAsync();
        }
        Directory.Delete(dir, true);
    }
}

/// <summary>
/// Near the end of its file descriptors, the brick stops accepting before the process has none left
/// (a .NET process with no descriptor free may die of it): it pauses its accepts, longer each time up
/// to a bound, instead of spinning, hands its reserve of descriptors back to the process meanwhile,
/// and takes connections again once descriptors are back.
/// </summary>
public class TheAcceptLoopBacksOffWhenOutOfDescriptors
{
    [Fact]
    public async Task Accepts_pause_with_growing_bounded_delays_and_resume()
    {
        var dir = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--name", "b",
            "--max-connections", "100000", "--max-connections-per-address", "100000");
        // Served once first, so nothing is left to load or compile when descriptors run out.
        var warm = await NetClient.ConnectAsync(brick.Port, "b");
        Assert.True((await warm.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);
        await warm.StopAsync();
        await brick.WaitForLogAsync("clean disconnect");
        // Some descriptors to spare, then none: more idle connections than that use them up.
        const int Spare = 16, Reserve = 16;   // Reserve: accept-fd-reserve's default, held in `open`
        int open = brick.OpenDescriptors();
        (await Proc.RunAsync("prlimit", ["--pid", brick.Pid.ToString(CultureInfo.InvariantCulture), $"--nofile={open + Spare}:{open + Spare}"])).Ok("prlimit");
        var idle = new List<RawClient>();
        try
        {
            for (int i = 0; i < 2 * Spare; i++) idle.Add(await RawClient.ConnectAsync(brick.Port));
            // Each pause is one log line: a spinning loop would write thousands before the pauses
            // reached their 1 s cap; backing off, it writes one per pause (10, 20, ... 640 ms, then 1 s).
            await brick.WaitForLogAsync("pausing accepts for 1000 ms", timeoutMs: 30000);
            // While paused, the process is not at its limit: the reserve is free for whatever else needs a descriptor.
            int free = open + Spare - brick.OpenDescriptors();
            Assert.True(free >= Reserve / 2, $"{free} descriptors free while accepts pause (limit {open + Spare})");
            var pauses = brick.Log.Where(l => l.Contains("pausing accepts for", StringComparison.Ordinal)).ToList();
            Assert.InRange(pauses.Count, 8, 9);
            var delays = pauses.Select(l => long.Parse(Regex.Match(l, @"pausing accepts for (\d+) ms").Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal([10L, 20, 40, 80, 160, 320, 640, 1000], delays.Take(8));
            Assert.Contains(brick.Log, l => l.Contains($"fewer than 2 file descriptors free beyond the accept reserve of {Reserve}", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var c in idle) await c.DisposeAsync();
        }
        // Descriptors are back once the brick has closed the idle connections (backlog included): a client is served again.
        await NetClient.Until(() => brick.OpenDescriptors() <= open, "the brick to close the idle connections");
        var g = NetClient.NewGraph(brick.Port, "b");
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None),
            "no client served after the shortage:\n" + string.Join('\n', brick.Log.TakeLast(20)));
        var stat = await g.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root));
        Assert.True(stat.Ok, stat.Error.Name());
        await g.StopAsync();
        Directory.Delete(dir, true);
    }
}
