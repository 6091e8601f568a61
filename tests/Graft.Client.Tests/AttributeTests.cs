using System.Text;
using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>stat, chmod, chown, utimes, truncate, access and statfs by path.</summary>
public class AttributeTests
{
    [Fact]
    public async Task Stat_reports_type_size_and_a_stable_gfid()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", new byte[1234]);
        var a = await t.Volume.StatAsync("/f");
        var b = await t.Volume.StatAsync("/f");
        Assert.True(a.IsReg);
        Assert.Equal(1234, a.Size);
        Assert.False(a.Gfid.IsZero);
        Assert.Equal(a.Gfid, b.Gfid);
        Assert.Equal(Iatt.InoOf(a.Gfid), a.Ino);
        Assert.True((await t.Volume.StatAsync("/")).Gfid.IsRoot);
    }

    [Fact]
    public async Task Chmod_changes_only_the_permission_bits()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        var a = await t.Volume.ChmodAsync("/f", 0x1C0); // 0700
        Assert.Equal(0x1C0u, a.Mode & PosixMode.PermMask);
        Assert.True(a.IsReg);
        Assert.Equal(0x1C0u, (await t.Volume.StatAsync("/f")).Mode & PosixMode.PermMask);
        if (!OperatingSystem.IsWindows()) Assert.Equal(Convert.ToInt32("700", 8), (int)File.GetUnixFileMode(Path.Combine(t.BrickDir, "f")));
    }

    [Fact]
    public async Task Chown_changes_owner_and_group_independently()
    {
        await using var t = await TestVolume.CreateAsync(); // root identity
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await t.Volume.ChownAsync("/f", 1234, null);
        var a = await t.Volume.StatAsync("/f");
        Assert.Equal(1234u, a.Uid);
        Assert.Equal(0u, a.Gid);
        await t.Volume.ChownAsync("/f", null, 4321);
        a = await t.Volume.StatAsync("/f");
        Assert.Equal(1234u, a.Uid);
        Assert.Equal(4321u, a.Gid);
    }

    [Fact]
    public async Task SetTimes_sets_mtime_and_atime()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        var m = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        var a = new DateTime(2002, 3, 4, 5, 6, 7, DateTimeKind.Utc);
        await t.Volume.SetTimesAsync("/f", a, m);
        var st = await t.Volume.StatAsync("/f");
        Assert.Equal(m, st.Mtime.ToDateTime());
        Assert.Equal(a, st.Atime.ToDateTime());
        await t.Volume.SetTimesAsync("/f", null, new DateTime(2010, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.Equal(a, (await t.Volume.StatAsync("/f")).Atime.ToDateTime()); // untouched
    }

    [Fact]
    public async Task Truncate_by_path_sets_the_size()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Encoding.ASCII.GetBytes("abcdef"));
        await t.Volume.TruncateAsync("/f", 2);
        Assert.Equal("ab"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task Statfs_reports_the_brick_filesystem()
    {
        await using var t = await TestVolume.CreateAsync();
        var s = await t.Volume.StatfsAsync();
        Assert.True(s.Bsize > 0);
        Assert.True(s.Blocks > 0);
        Assert.True(s.NameMax >= 255);
    }

    [Fact]
    public async Task An_unprivileged_caller_is_refused_what_the_mode_bits_forbid()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.MkdirAsync("/private", 0x1C0);          // 0700, root's
        await t.Volume.WriteAllBytesAsync("/readonly", "r"u8.ToArray());
        await t.Volume.ChmodAsync("/readonly", 0x124);          // 0444
        await using var user = await TestVolume.OpenSecondAsync(t.BrickDir, new VolumeOptions { Uid = 1000, Gid = 1000 });
        await Errors.ThrowsErrno(Errno.EACCES, () => user.WriteAllBytesAsync("/private/x", Array.Empty<byte>()));
        await Errors.ThrowsErrno(Errno.EACCES, () => user.OpenAsync("/readonly", FileMode.Open, FileAccess.Write));
        Assert.False(await user.AccessAsync("/readonly", 2));
        await Errors.ThrowsErrno(Errno.EPERM, () => user.ChownAsync("/readonly", 1000, null));
    }

    [Fact]
    public async Task An_unprivileged_caller_may_do_what_the_mode_bits_allow_and_owns_what_it_creates()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/readonly", "r"u8.ToArray());
        await t.Volume.ChmodAsync("/readonly", 0x124);          // 0444
        await t.Volume.MkdirAsync("/open", 0x1FF);
        await t.Volume.ChmodAsync("/open", 0x1FF);              // 0777 regardless of umask
        await using var user = await TestVolume.OpenSecondAsync(t.BrickDir, new VolumeOptions { Uid = 1000, Gid = 1000 });

        Assert.True(await user.AccessAsync("/readonly", 4));
        Assert.Equal("r"u8.ToArray(), await user.ReadAllBytesAsync("/readonly"));
        await user.WriteAllBytesAsync("/open/mine", "m"u8.ToArray());
        var st = await user.StatAsync("/open/mine");
        Assert.Equal(1000u, st.Uid);
        Assert.Equal(1000u, st.Gid);
        await user.ChmodAsync("/open/mine", 0x180);             // the owner may chmod
        Assert.Equal(0x180u, (await t.Volume.StatAsync("/open/mine")).Mode & PosixMode.PermMask);
    }
}
