using Graft.Core;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>`graft brick --volfile FILE` serves any brick graph; clients ask for the volume under protocol/server.</summary>
public class BrickFromAVolfile
{
    [Fact]
    public async Task A_volfile_brick_graph_is_served_under_the_name_of_the_volume_below_the_server()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "data");
        Directory.CreateDirectory(dir);
        var vol = Path.Combine(temp, "brick.vol");
        File.WriteAllText(vol, $"""
            volume data-posix
                type storage/posix
                option directory {dir}
            end-volume

            volume exported
                type debug/passthrough
                subvolumes data-posix
            end-volume

            volume server
                type protocol/server
                option listen-port 0
                option secret-file {TestSecret.File}
                subvolumes exported
            end-volume
            """);
        await using var brick = await BrickProcess.StartAsync("--volfile", vol);
        var g = await NetClient.ConnectAsync(brick.Port, "exported");
        var made = await g.Top.MkdirAsync(FopContext.Root(), Loc.Child(Gfid.Root, "through-volfile"), 0x1ed, 0, Gfid.NewGfid());
        Assert.True(made.Ok, made.Error.Name());
        Assert.True(Directory.Exists(Path.Combine(dir, "through-volfile")));
        await g.StopAsync();
        Assert.Equal(0, await brick.StopAsync());
        Directory.Delete(temp, true);
    }
}
