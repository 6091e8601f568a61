using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// `graft install` puts mount.graft in /sbin: `mount -t graft HOST:PORT:/VOLUME MNT` and an fstab line
/// (`mount -a -T` on a private fstab) mount the daemon's volume; `umount` unmounts. The helper is
/// removed again at the end (mount(8) only looks for helpers in /sbin).
/// </summary>
public sealed class MountHelperAndFstab
{
    [MountFact]
    public async Task Mount_t_graft_and_an_fstab_entry_work()
    {
        var home = Proc.PrivateDir("mgmt-helper");
        var mnt = Path.Combine(home, "mnt");
        Directory.CreateDirectory(mnt);
        var helper = "/sbin/mount.graft";
        var hadHelper = File.Exists(helper);
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            (await Proc.Graft(home, "install")).Ok("graft install");
            Assert.True(File.Exists(helper));

            (await Proc.RunAsync("mount", ["-t", "graft", $"{d.Server}:/v", mnt])).Ok("mount -t graft");
            Assert.True(Proc.IsMounted(mnt));
            File.WriteAllText(Path.Combine(mnt, "through-helper"), "1\n");
            (await Proc.RunAsync("umount", [mnt])).Ok("umount");
            await Proc.Until(() => !Proc.IsMounted(mnt), "unmounted", 30);

            var fstab = Path.Combine(home, "fstab");
            File.WriteAllText(fstab, $"{d.Server}:/v {mnt} graft defaults,_netdev 0 0\n");
            (await Proc.RunAsync("mount", ["-a", "-T", fstab])).Ok("mount -a -T fstab");
            Assert.Equal("1\n", File.ReadAllText(Path.Combine(mnt, "through-helper")));
            (await Proc.RunAsync("umount", [mnt])).Ok("umount");
            await Proc.Until(() => !Proc.IsMounted(mnt), "unmounted", 30);
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally
        {
            if (Proc.IsMounted(mnt)) await Proc.RunAsync("umount", ["-l", mnt], seconds: 30);
            if (!hadHelper) File.Delete(helper);
        }
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
