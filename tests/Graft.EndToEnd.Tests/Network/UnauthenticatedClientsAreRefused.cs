using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// The brick's address allow-list and shared secret keep other clients out, each with a reason the
/// client can report; the secret never travels.
/// </summary>
public class UnauthenticatedClientsAreRefused
{
    private static async Task<(Errno, string?)> RefusalOf(int port, Dictionary<string, string>? options = null, BrickAuth auth = BrickAuth.TestSecret)
    {
        var g = NetClient.NewGraph(port, "b", options, auth: auth);
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None), "a refused client came up");
        var c = (ProtocolClient)g.Top;
        var e = (c.LastConnectError, c.LastConnectMessage);
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

        Assert.Equal((Errno.EACCES, "wrong secret"), await RefusalOf(brick.Port, new() { ["secret-file"] = Path.Combine(temp, "wrong") }));
        await brick.WaitForLogAsync("wrong secret (1 so far)");
        Assert.Equal((Errno.EACCES, "the brick requires a shared secret: give this client secret-file"), await RefusalOf(brick.Port, auth: BrickAuth.None));

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
        Assert.Equal((Errno.EACCES, "address not allowed (auth-allow)"), await RefusalOf(brick.Port));
        await brick.WaitForLogAsync("address not allowed");

        await using var open = await BrickProcess.ServeDirAsync(brickDir, 0, "--auth-allow", "127.0.0.0/8");
        var ok = await NetClient.ConnectAsync(open.Port, "b");
        await ok.StopAsync();
        Directory.Delete(temp, true);
    }
}
