using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Client.Tests.Distribute;

/// <summary>distribute's layouts and link pointers are on the bricks, but nothing above distribute can see, read, set or remove them.</summary>
public class InternalXattrsStayInside
{
    [Fact]
    public async Task Layout_and_pointer_xattrs_are_hidden_from_and_refused_to_the_volume_even_as_root()
    {
        await using var v = await DistributedVolume.CreateAsync(2);
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.WriteAllBytesAsync("/d/f", new byte[] { 1 });
        Assert.NotNull(Xattr.Get(v.On(0, "/d"), Layout.Xattr));
        Assert.DoesNotContain(await v.Volume.ListXattrAsync("/d"), n => n.StartsWith("trusted.graft.", StringComparison.Ordinal));
        await Errors.ThrowsErrno(Errno.ENODATA, () => v.Volume.GetXattrAsync("/d", Layout.Xattr));
        await Errors.ThrowsErrno(Errno.EPERM, () => v.Volume.SetXattrAsync("/d", Layout.Xattr, new byte[24]));
        await Errors.ThrowsErrno(Errno.EPERM, () => v.Volume.RemoveXattrAsync("/d", Layout.Xattr));
        await Errors.ThrowsErrno(Errno.EPERM, () => v.Volume.SetXattrAsync("/d/f", Linkfile.Xattr, "b0"u8.ToArray()));
        await Errors.ThrowsErrno(Errno.ENODATA, () => v.Volume.GetXattrAsync("/d/f", Linkfile.Xattr));
        Assert.True(v.LayoutOf("/d").Complete, "the layout was touched");
    }

    [Fact]
    public void The_xattr_names_are_in_the_namespace_storage_posix_lets_the_mount_use()
    {
        Assert.StartsWith(Graft.Xlators.Storage.Posix.PosixTranslator.ClusterXattrPrefix, Layout.Xattr, StringComparison.Ordinal);
        Assert.StartsWith(Graft.Xlators.Storage.Posix.PosixTranslator.ClusterXattrPrefix, Linkfile.Xattr, StringComparison.Ordinal);
    }
}
