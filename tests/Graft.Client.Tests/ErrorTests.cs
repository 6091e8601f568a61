using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>Errors arrive as GraftIOException with the errno the graph returned.</summary>
public class ErrorTests
{
    [Fact]
    public async Task A_file_in_the_middle_of_a_path_is_not_a_directory()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.ENOTDIR, () => t.Volume.StatAsync("/f/x"));
        Assert.False(await t.Volume.ExistsAsync("/f/x"));
    }

    [Fact]
    public async Task Not_found_is_a_subclass_that_still_carries_the_errno()
    {
        await using var t = await TestVolume.CreateAsync();
        var e = await Assert.ThrowsAsync<GraftNotFoundException>(() => t.Volume.StatAsync("/nope"));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal((int)Errno.ENOENT, e.HResult);
        Assert.Contains("ENOENT", e.Message);
    }

    [Fact]
    public async Task The_root_has_no_parent_entry_to_create_or_remove()
    {
        await using var t = await TestVolume.CreateAsync();
        await Errors.ThrowsErrno(Errno.EINVAL, () => t.Volume.MkdirAsync("/"));
        await Errors.ThrowsErrno(Errno.EINVAL, () => t.Volume.DeleteDirectoryAsync("/"));
    }

    [Fact]
    public async Task Failures_leave_no_lookups_fds_or_fops_behind()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/d");
        for (int i = 0; i < 5; i++)
        {
            await Assert.ThrowsAnyAsync<GraftIOException>(() => t.Volume.StatAsync("/d/missing"));
            await Assert.ThrowsAnyAsync<GraftIOException>(() => t.Volume.OpenAsync("/d/missing", FileMode.Open));
            await Assert.ThrowsAnyAsync<GraftIOException>(() => t.Volume.MkdirAsync("/d"));
        }
        var st = t.Volume.GetState();
        Assert.Equal(1, st.Nodes);
        Assert.Equal(0, st.OpenFileCount);
        Assert.Equal(0, st.Graphs[0].Fds);
        Assert.Equal(0, st.Graphs[0].FopsInFlight);
    }
}
