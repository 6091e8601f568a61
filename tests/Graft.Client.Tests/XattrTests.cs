using Graft.Core;

namespace Graft.Client.Tests;

public class XattrTests
{
    [Fact]
    public async Task User_xattrs_can_be_set_read_listed_and_removed()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await t.Volume.SetXattrAsync("/f", "user.color", "blue"u8.ToArray());
        Assert.Equal("blue"u8.ToArray(), await t.Volume.GetXattrAsync("/f", "user.color"));
        Assert.Contains("user.color", await t.Volume.ListXattrAsync("/f"));
        await t.Volume.RemoveXattrAsync("/f", "user.color");
        await Errors.ThrowsErrno(Errno.ENODATA, () => t.Volume.GetXattrAsync("/f", "user.color"));
        Assert.DoesNotContain("user.color", await t.Volume.ListXattrAsync("/f"));
    }

    [Fact]
    public async Task Create_and_replace_flags_are_honoured()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.ENODATA, () => t.Volume.SetXattrAsync("/f", "user.k", "1"u8.ToArray(), Volume.XattrReplace));
        await t.Volume.SetXattrAsync("/f", "user.k", "1"u8.ToArray(), Volume.XattrCreate);
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.SetXattrAsync("/f", "user.k", "2"u8.ToArray(), Volume.XattrCreate));
        await t.Volume.SetXattrAsync("/f", "user.k", "3"u8.ToArray(), Volume.XattrReplace);
        Assert.Equal("3"u8.ToArray(), await t.Volume.GetXattrAsync("/f", "user.k"));
    }

    [Fact]
    public async Task The_bricks_internal_xattrs_are_invisible_and_cannot_be_set()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        Assert.DoesNotContain(await t.Volume.ListXattrAsync("/f"), n => n.StartsWith("trusted.graft.", StringComparison.Ordinal));
        var e = await Assert.ThrowsAnyAsync<GraftIOException>(() => t.Volume.SetXattrAsync("/f", "trusted.graft.gfid", new byte[16]));
        Assert.NotEqual(Errno.OK, e.Errno);
    }

    [Fact]
    public async Task Xattrs_on_directories_work_too()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.MkdirAsync("/d");
        await t.Volume.SetXattrAsync("/d", "user.tag", "x"u8.ToArray());
        Assert.Equal("x"u8.ToArray(), await t.Volume.GetXattrAsync("/d", "user.tag"));
    }
}
