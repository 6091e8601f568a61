using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>Every change made through replicate lands on every copy, with one GFID, and leaves no counter pending.</summary>
public class ChangesReachEveryCopy
{
    [Fact]
    public async Task Files_directories_links_renames_modes_and_xattrs_are_the_same_on_every_brick()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        var vol = v.Volume;
        await vol.CreateDirectoryAsync("/d");
        await vol.WriteAllBytesAsync("/d/f", "hello"u8.ToArray());
        await vol.WriteAllBytesAsync("/d/gone", "x"u8.ToArray());
        await vol.ChmodAsync("/d/f", 0x180);
        await vol.SetXattrAsync("/d/f", "user.k", "v"u8.ToArray());
        await vol.LinkAsync("/d/f", "/d/hard");
        await vol.SymlinkAsync("f", "/d/sym");
        await vol.RenameAsync("/d/f", "/d/g");
        await vol.DeleteFileAsync("/d/gone");
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("hello", File.ReadAllText(v.On(i, "/d/g")));
            Assert.False(File.Exists(v.On(i, "/d/gone")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(v.On(i, "/d/g")));
            Assert.Equal("v"u8.ToArray(), Graft.Client.Tests.Distribute.Xattr.Get(v.On(i, "/d/g"), "user.k"));
            Assert.Equal("f", new FileInfo(v.On(i, "/d/sym")).LinkTarget);
        }
        Assert.True(v.Clean("/d/g"), "the file's counters are not all zero");
        Assert.True(v.Clean("/d"), "the directory's counters are not all zero");
        Assert.Equal(0, v.Afr.Counters!["copiesBlamed"]);
    }

    private static byte[] GfidBytes(string path) => Graft.Client.Tests.Distribute.Xattr.Get(path, "trusted.graft.gfid") ?? new byte[16];

    [Fact]
    public async Task The_copies_carry_the_same_gfid()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.Volume.WriteAllBytesAsync("/f", new byte[] { 1 });
        await v.Volume.CreateDirectoryAsync("/d");
        foreach (var p in new[] { "/f", "/d" })
        {
            var g0 = GfidBytes(v.On(0, p));
            Assert.NotEqual(new byte[16], g0);
            Assert.Equal(g0, GfidBytes(v.On(1, p)));
            Assert.Equal(g0, GfidBytes(v.On(2, p)));
        }
    }
}

/// <summary>replicate's counters are on the bricks, but nothing above replicate sees, reads, sets or removes them.</summary>
public class PendingCountersStayInside
{
    [Fact]
    public async Task Counters_are_hidden_from_and_refused_to_the_volume_even_as_root()
    {
        await using var v = await ReplicatedVolume.CreateAsync(2);
        await v.Volume.WriteAllBytesAsync("/f", new byte[] { 1 });
        Assert.NotNull(Graft.Client.Tests.Distribute.Xattr.Get(v.On(1, "/f"), Pending.NameFor("b1")));
        Assert.DoesNotContain(await v.Volume.ListXattrAsync("/f"), n => n.StartsWith("trusted.graft.", StringComparison.Ordinal));
        await Errors.ThrowsErrno(Errno.ENODATA, () => v.Volume.GetXattrAsync("/f", Pending.NameFor("b1")));
        await Errors.ThrowsErrno(Errno.EPERM, () => v.Volume.SetXattrAsync("/f", Pending.NameFor("b1"), new byte[Pending.Width]));
        await Errors.ThrowsErrno(Errno.EPERM, () => v.Volume.RemoveXattrAsync("/f", Pending.NameFor("b1")));
    }
}
