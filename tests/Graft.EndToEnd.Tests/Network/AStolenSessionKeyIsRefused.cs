using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Wire;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// The session key (mount identity, graph generation, client instance) is no secret: a process that
/// learns it — even one holding the brick's secret — cannot take the session over without the
/// resume token the brick gave its owner. It is refused with a reason, and the owner's connection,
/// fds and data carry on untouched.
/// </summary>
public class AStolenSessionKeyIsRefused
{
    [Fact]
    public async Task A_hello_with_the_key_but_not_the_token_is_refused_and_the_owner_carries_on()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b", "--grace-timeout", "60");
        var g = await NetClient.ConnectAsync(brick.Port, "b");
        var owner = (ProtocolClient)g.Top;
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await owner.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);
        Assert.Equal(6, (await owner.WritevAsync(root, fd, "before"u8.ToArray(), 0)).Value);

        var wrongToken = Handshake.NewToken();
        foreach (var token in new[] { null, wrongToken })
        {
            await using var thief = await RawClient.ConnectAsync(brick.Port);
            var w = await thief.HandshakeAsync("b", TestSecret.Bytes, token, owner.Identity, g.Generation, owner.Instance);
            Assert.Equal(Errno.EBUSY, w?.Error);
            Assert.Contains("resume needs its token", w!.Reason);
            Assert.True(await thief.ClosedByBrickAsync(), "the brick kept the thief's connection");
        }
        await brick.WaitForLogAsync("session is in use: a resume needs its token and the principal that opened it (2 so far)");

        // The owner never noticed: same connection, same fd, its data where it left it.
        Assert.Equal(1, owner.Connects);
        Assert.True(owner.IsConnected);
        Assert.Equal(5, (await owner.WritevAsync(root, fd, "after"u8.ToArray(), 6)).Value);
        var back = new byte[11];
        Assert.Equal(11, (await owner.ReadvAsync(root, fd, back, 0)).Value);
        Assert.Equal("beforeafter"u8.ToArray(), back);
        Assert.Equal(1, owner.Connects);

        await FopScenario.Release(owner, fd);
        await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
