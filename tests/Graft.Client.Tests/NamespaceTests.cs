using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>Rename, hard links and symlinks.</summary>
public class NamespaceTests
{
    [Fact]
    public async Task Rename_moves_a_file_between_directories_keeping_its_gfid_and_data()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/a");
        await t.Volume.CreateDirectoryAsync("/b");
        await t.Volume.WriteAllBytesAsync("/a/f", "data"u8.ToArray());
        var before = await t.Volume.StatAsync("/a/f");
        await t.Volume.RenameAsync("/a/f", "/b/g");
        Assert.False(await t.Volume.ExistsAsync("/a/f"));
        var after = await t.Volume.StatAsync("/b/g");
        Assert.Equal(before.Gfid, after.Gfid);
        Assert.Equal("data"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/b/g"));
    }

    [Fact]
    public async Task Rename_replaces_the_target_unless_told_not_to()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/x", "X"u8.ToArray());
        await t.Volume.WriteAllBytesAsync("/y", "Y"u8.ToArray());
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.RenameAsync("/x", "/y", RenameFlags.NoReplace));
        await t.Volume.RenameAsync("/x", "/y");
        Assert.Equal("X"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/y"));
        Assert.False(await t.Volume.ExistsAsync("/x"));
    }

    [Fact]
    public async Task Rename_exchange_swaps_two_names()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/x", "X"u8.ToArray());
        await t.Volume.MkdirAsync("/d");
        await t.Volume.RenameAsync("/x", "/d", RenameFlags.Exchange);
        Assert.True((await t.Volume.StatAsync("/x")).IsDir);
        Assert.Equal("X"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/d"));
    }

    [Fact]
    public async Task Renaming_a_missing_file_is_not_found()
    {
        await using var t = await TestVolume.CreateAsync();
        await Errors.ThrowsErrno(Errno.ENOENT, () => t.Volume.RenameAsync("/nope", "/x"));
    }

    [Fact]
    public async Task A_hard_link_is_the_same_file_under_another_name()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "1"u8.ToArray());
        var a = await t.Volume.LinkAsync("/f", "/g");
        Assert.Equal(2u, a.Nlink); // the brick's handle link is not counted
        Assert.Equal((await t.Volume.StatAsync("/f")).Gfid, (await t.Volume.StatAsync("/g")).Gfid);
        await using (var s = await t.Volume.OpenAsync("/g", FileMode.Append, FileAccess.Write)) await s.WriteAsync("2"u8.ToArray());
        Assert.Equal("12"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/f"));
        await t.Volume.DeleteFileAsync("/f");
        Assert.Equal(1u, (await t.Volume.StatAsync("/g")).Nlink);
        await t.Volume.WriteAllBytesAsync("/other", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.LinkAsync("/g", "/other"));
    }

    [Fact]
    public async Task Symlinks_are_read_back_and_followed_by_stat_but_not_lstat()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/target", "abc"u8.ToArray());
        var l = await t.Volume.SymlinkAsync("target", "/link");
        Assert.True(l.IsSymlink);
        Assert.Equal("target", await t.Volume.ReadLinkAsync("/link"));
        Assert.True((await t.Volume.LstatAsync("/link")).IsSymlink);
        var st = await t.Volume.StatAsync("/link");
        Assert.True(st.IsReg);
        Assert.Equal(3, st.Size);
    }

    [Fact]
    public async Task Symlinks_to_directories_are_followed_in_the_middle_of_a_path_relative_or_absolute()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/real/inner");
        await t.Volume.WriteAllBytesAsync("/real/inner/f", "F"u8.ToArray());
        await t.Volume.SymlinkAsync("real/inner", "/rel");
        await t.Volume.SymlinkAsync("/real", "/abs");
        Assert.Equal("F"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/rel/f"));
        Assert.Equal("F"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/abs/inner/f"));
    }

    [Fact]
    public async Task A_symlink_loop_ends_in_ELOOP_and_a_dangling_link_in_ENOENT()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.SymlinkAsync("b", "/a");
        await t.Volume.SymlinkAsync("a", "/b");
        await t.Volume.SymlinkAsync("nowhere", "/dangling");
        await Errors.ThrowsErrno(Errno.ELOOP, () => t.Volume.StatAsync("/a"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => t.Volume.StatAsync("/dangling"));
        Assert.True(await t.Volume.ExistsAsync("/dangling"));
        Assert.Equal(1, t.Volume.GetState().Nodes); // every walk gave its lookups back
    }

    [Fact]
    public async Task Readlink_on_a_regular_file_is_invalid()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.EINVAL, () => t.Volume.ReadLinkAsync("/f"));
    }
}
