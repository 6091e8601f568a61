using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// What root on a mount may do on the brick depends on whether the mount's session is authenticated:
/// without a secret it is squashed to nobody (no root-owned files, device nodes or trusted xattrs);
/// with the brick's secret it is root; with a wrong or missing secret `graft mount` fails at once and
/// prints the brick's reason.
/// </summary>
public class BrickTrustThroughAMount
{
    [MountFact]
    public async Task Without_a_secret_root_on_the_mount_is_nobody_on_the_brick()
    {
        await using var m = await BrickAndMount.StartAsync("squash", BrickAuth.None);
        File.SetUnixFileMode(m.BrickDir, (UnixFileMode)0x1FF);
        (await m.MountAsync([])).Ok("graft mount without a secret");

        var sh = await Proc.Sh($"cd '{m.Mnt}' && echo hi > f && cat f && mkdir d && " +
                               "{ chown 0:0 f 2>&1 || echo CHOWN-REFUSED; } && { mknod null c 1 3 2>&1 || echo MKNOD-REFUSED; } && " +
                               "{ setfattr -n trusted.t -v 1 f 2>&1 || echo TRUSTED-REFUSED; } && { setfattr -n security.s -v 1 f 2>&1 || echo SECURITY-REFUSED; }");
        sh.Ok("shell through the squashed mount");
        Assert.StartsWith("hi\n", sh.Out);
        foreach (var refused in new[] { "CHOWN-REFUSED", "MKNOD-REFUSED", "TRUSTED-REFUSED", "SECURITY-REFUSED" }) Assert.Contains(refused, sh.Out);
        Assert.Equal("65534:65534", await m.OwnerOnBrickAsync("f"));
        Assert.Equal("65534:65534", await m.OwnerOnBrickAsync("d"));
        Assert.False(File.Exists(Path.Combine(m.BrickDir, "null")));
    }

    [MountFact]
    public async Task With_the_secret_root_on_the_mount_is_root_on_the_brick()
    {
        await using var m = await BrickAndMount.StartAsync("trusted", BrickAuth.TestSecret);
        (await m.MountAsync(new() { ["secret-file"] = TestSecret.File })).Ok("graft mount with the secret");

        (await Proc.Sh($"cd '{m.Mnt}' && echo hi > f && chown 123:456 f && touch g && mknod null c 1 3")).Ok("root's work through the mount");
        Assert.Equal("123:456", await m.OwnerOnBrickAsync("f"));
        Assert.Equal("0:0", await m.OwnerOnBrickAsync("g"));
        Assert.Equal("c", (await Proc.Sh($"stat -c %F '{Path.Combine(m.BrickDir, "null")}' | cut -c1")).Out.Trim());
    }

    [MountTheory]
    [InlineData("wrong", "wrong secret")]
    [InlineData("none", "the brick requires a shared secret: give this client secret-file")]
    public async Task A_wrong_or_missing_secret_fails_the_mount_with_the_bricks_reason(string secret, string reason)
    {
        await using var m = await BrickAndMount.StartAsync("refused", BrickAuth.TestSecret);
        var wrong = Path.Combine(m.Home, "wrong-secret");
        await File.WriteAllTextAsync(wrong, "not the brick's secret\n");
        var started = System.Diagnostics.Stopwatch.StartNew();
        var run = await m.MountAsync(secret == "wrong" ? new() { ["secret-file"] = wrong } : []);
        Assert.NotEqual(0, run.Code);
        Assert.Contains(reason, run.Err);
        Assert.Contains("EACCES", run.Err);
        // Refused, not timed out: the daemon stops waiting at the refusal instead of at its bound.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(BrickAndMount.MountTimeoutSeconds - 10), $"graft mount took {started.Elapsed.TotalSeconds:0} s to give up");
        Assert.False(Proc.IsMounted(m.Mnt));
    }
}
