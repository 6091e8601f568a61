using System.Globalization;
using Graft.Core;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Protocol.Client;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// `graft up` makes a secret (0600, in its run directory) and gives it to both its brick and its
/// mount: root on the mount is root on the brick, while any other local process that connects to the
/// brick without the secret is refused. `graft down` removes the secret with the rest.
/// </summary>
public class GraftUpTrustsOnlyItsOwnMount
{
    [MountFact]
    public async Task The_mount_proves_a_private_secret_that_other_processes_lack()
    {
        await using var v = await MountedVolume.UpAsync("up-secret");
        var secret = Assert.Single(Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.secret"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
        Assert.True(new FileInfo(secret).Length >= 32);
        var volfile = Assert.Single(Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol"));
        var lines = File.ReadAllLines(volfile).Select(l => l.Trim()).ToArray();
        Assert.Contains($"option secret-file {secret}", lines);
        Assert.Contains($"--secret-file\0{secret}", File.ReadAllText($"/proc/{v.BrickPid()}/cmdline"));

        (await Proc.Sh($"touch '{v.P("by-root")}' && mknod '{v.P("null")}' c 1 3")).Ok("root's work through the mount");
        Assert.Equal("0:0", (await Proc.Sh($"stat -c %u:%g '{Path.Combine(v.Brick, "by-root")}'")).Out.Trim());

        // Another local process, without the secret, is not let in at all.
        string Opt(string name) => lines.Single(l => l.StartsWith("option " + name + " ", StringComparison.Ordinal)).Split(' ')[2];
        var g = NetClient.NewGraph(int.Parse(Opt("remote-port"), CultureInfo.InvariantCulture), Opt("remote-subvolume"), auth: BrickAuth.None);
        Assert.False(await g.StartAndWaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.Equal(Errno.EACCES, ((ProtocolClient)g.Top).LastConnectError);
        await g.StopAsync();

        (await Proc.Graft(v.Home, "down", v.Mnt)).Ok("graft down");
        Assert.False(File.Exists(secret), "graft down left the secret behind");
    }
}
