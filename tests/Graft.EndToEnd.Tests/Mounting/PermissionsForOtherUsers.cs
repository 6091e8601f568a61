namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A non-root user (uid/gid 4242, no supplementary groups) on a mount every user may use (allow_other is
/// on by default). Each denial is first shown succeeding where the mode bits allow it. With the defaults
/// the kernel checks mode bits first (default_permissions); with nodefault_permissions only the brick
/// checks, with the caller's uid, gid and groups — the same answers must come out.
/// </summary>
public class PermissionsForOtherUsers
{
    const int User = 4242;

    static async Task Layout(string d)
    {
        (await Proc.Sh($"""
            set -e
            cd '{d}'
            chmod 755 .
            echo public > open; chmod 644 open
            echo secret > secret; chmod 600 secret
            mkdir shared; chmod 777 shared
            mkdir private; chmod 700 private; touch private/inside
            mkdir readonly; chmod 755 readonly
            """)).Ok("layout as root");
    }

    static async Task AssertUserSeesModeBits(string d)
    {
        async Task<Run> AsUser(string script) => await Proc.Sh($"cd '{d}' && {script}", asUid: User);
        static void Denied(Run r, string what, string message = "Permission denied")
        {
            Assert.True(r.Code != 0, $"{what} should have been denied:\n{r.Out}{r.Err}");
            Assert.Contains(message, r.Err);
        }

        // Reading: the world-readable file, then the owner-only one.
        Assert.Equal("public", (await AsUser("cat open")).Ok("cat open as user").Out.Trim());
        Denied(await AsUser("cat secret"), "cat secret");

        // Creating: in the world-writable directory (owned by the caller afterwards), then in root's 755 one.
        Assert.Equal($"{User}:{User}", (await AsUser("touch shared/mine && stat -c %u:%g shared/mine")).Ok("create in 777").Out.Trim());
        Denied(await AsUser("touch readonly/theirs"), "create in 755");

        // Listing: a directory the user may read, then root's 0700 one (and what is inside it).
        Assert.Contains("open", (await AsUser("ls .")).Ok("ls as user").Out);
        Denied(await AsUser("ls private"), "ls private");
        Denied(await AsUser("cat private/inside"), "cat private/inside");

        // Changing modes: the user's own file, then root's.
        Assert.Equal("600", (await AsUser("chmod 600 shared/mine && stat -c %a shared/mine")).Ok("chmod own").Out.Trim());
        Denied(await AsUser("chmod 666 open"), "chmod root's file", "Operation not permitted");

        // Writing: the user's own file, then root's world-readable one.
        (await AsUser("echo more >> shared/mine")).Ok("append to own file");
        Denied(await AsUser("echo more >> open"), "append to root's file");

        // Removing: own file from the world-writable directory, then root's file from it.
        (await Proc.Sh($"touch '{d}/shared/roots'")).Ok("root creates in shared");
        (await AsUser("rm shared/mine")).Ok("rm own file");
        Assert.Equal("public", (await Proc.Sh($"cat '{d}/open'")).Ok("root still reads").Out.Trim());
    }

    [MountFact]
    public async Task With_default_permissions_the_kernel_and_brick_enforce_mode_bits_for_each_caller()
    {
        await using var v = await MountedVolume.UpAsync("perm");
        var d = v.P("tree");
        Directory.CreateDirectory(d);
        await Layout(d);
        await AssertUserSeesModeBits(d);
    }

    [MountFact]
    public async Task Without_default_permissions_the_brick_alone_enforces_them()
    {
        // entry_timeout=0: without default_permissions the kernel checks no search permission itself, so a
        // name it still caches (root just created them all) would never reach the brick's check. That is
        // a property of FUSE, and why default_permissions is on by default.
        await using var v = await MountedVolume.UpAsync("perm-brick", "nodefault_permissions", "entry_timeout=0");
        Assert.DoesNotContain("default_permissions", (await Proc.Sh($"grep ' {v.Mnt} ' /proc/mounts")).Ok("mount options").Out);
        var d = v.P("tree");
        Directory.CreateDirectory(d);
        await Layout(d);
        await AssertUserSeesModeBits(d);
    }
}
