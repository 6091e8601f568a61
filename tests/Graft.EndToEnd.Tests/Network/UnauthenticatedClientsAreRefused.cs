using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>The brick's address allow-list and shared secret keep other clients out; the secret never travels.</summary>
public class UnauthenticatedClientsAreRefused
{
    private static async Task<Errno> RefusalOf(int port, Dictionary<string, string>? options = null)
    {
        var g = NetClient.NewGraph(port, "b", options);
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None), "a refused client came up");
        var c = (ProtocolClient)g.Top;
        await NetClient.Until(() => c.LastConnectError != Errno.ENOTCONN, "a handshake answer");
        var e = c.LastConnectError;
        await g.StopAsync();
        return e;
    }

    [Fact]
    public async Task Wrong_or_missing_secret_is_refused_and_the_right_one_accepted()
    {
        var temp = BrickProcess.NewTempDir();
        var brickDir = Path.Combine(temp, "b");
        Directory.CreateDirectory(brickDir);
        File.WriteAllText(Path.Combine(temp, "secret"), "correct horse battery staple\n");
        File.WriteAllText(Path.Combine(temp, "wrong"), "incorrect horse\n");
        await using var brick = await BrickProcess.ServeDirAsync(brickDir, 0, "--secret-file", Path.Combine(temp, "secret"));

        Assert.Equal(Errno.EACCES, await RefusalOf(brick.Port, new() { ["secret-file"] = Path.Combine(temp, "wrong") }));
        await brick.WaitForLogAsync("wrong secret");
        Assert.Equal(Errno.EACCES, await RefusalOf(brick.Port));

        var ok = await NetClient.ConnectAsync(brick.Port, "b", new() { ["secret-file"] = Path.Combine(temp, "secret") });
        Assert.True((await ok.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root))).Ok);
        await ok.StopAsync();
        Directory.Delete(temp, true);
    }

    [Fact]
    public async Task An_address_outside_the_allow_list_is_refused()
    {
        var temp = BrickProcess.NewTempDir();
        var brickDir = Path.Combine(temp, "b");
        Directory.CreateDirectory(brickDir);
        await using var brick = await BrickProcess.ServeDirAsync(brickDir, 0, "--auth-allow", "10.0.0.0/8,192.168.1.7");
        Assert.Equal(Errno.EACCES, await RefusalOf(brick.Port));
        await brick.WaitForLogAsync("address not allowed");

        await using var open = await BrickProcess.ServeDirAsync(brickDir, 0, "--auth-allow", "127.0.0.0/8");
        var ok = await NetClient.ConnectAsync(open.Port, "b");
        await ok.StopAsync();
        Directory.Delete(temp, true);
    }
}
