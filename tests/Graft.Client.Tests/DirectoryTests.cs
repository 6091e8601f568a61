using Graft.Core;

namespace Graft.Client.Tests;

public class DirectoryTests
{
    [Fact]
    public async Task Mkdir_makes_a_directory_and_refuses_an_existing_name()
    {
        await using var t = await TestVolume.CreateAsync();
        var a = await t.Volume.MkdirAsync("/d", 0x1ED);
        Assert.True(a.IsDir);
        Assert.True(Directory.Exists(Path.Combine(t.BrickDir, "d")));
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.MkdirAsync("/d"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => t.Volume.MkdirAsync("/no/such/parent"));
    }

    [Fact]
    public async Task CreateDirectory_makes_missing_parents_and_is_idempotent()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/a/b/c");
        await t.Volume.CreateDirectoryAsync("/a/b/c");
        Assert.True((await t.Volume.StatAsync("/a/b/c")).IsDir);
        await t.Volume.WriteAllBytesAsync("/a/file", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.ENOTDIR, () => t.Volume.CreateDirectoryAsync("/a/file/x"));
    }

    [Fact]
    public async Task Enumerate_lists_every_entry_once_with_its_type_across_many_batches()
    {
        await using var t = await TestVolume.CreateAsync(new VolumeOptions { ReaddirBatch = 5 });
        await t.Volume.MkdirAsync("/d");
        var expected = new SortedSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 23; i++) { await t.Volume.WriteAllBytesAsync($"/d/f{i}", Array.Empty<byte>()); expected.Add($"f{i}"); }
        await t.Volume.MkdirAsync("/d/sub");
        expected.Add("sub");
        var entries = await t.Volume.ListDirectoryAsync("/d");
        Assert.Equal(expected, new SortedSet<string>(entries.Select(e => e.Name), StringComparer.Ordinal));
        Assert.Equal(entries.Count, entries.Select(e => e.Name).Distinct().Count());
        Assert.Equal(PosixMode.S_IFDIR, entries.Single(e => e.Name == "sub").Type);
        Assert.All(entries.Where(e => e.Name != "sub"), e => Assert.Equal(PosixMode.S_IFREG, e.Type));
        Assert.DoesNotContain(entries, e => e.Name is "." or "..");
        Assert.Equal(0, t.Volume.GetState().OpenFileCount); // the directory handle was released
    }

    [Fact]
    public async Task The_brick_private_directory_is_not_listed()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        var names = (await t.Volume.ListDirectoryAsync("/")).Select(e => e.Name).ToList();
        Assert.Equal(["f"], names);
    }

    [Fact]
    public async Task DeleteDirectory_refuses_a_non_empty_directory_unless_recursive()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/d/e");
        await t.Volume.WriteAllBytesAsync("/d/e/f", "x"u8.ToArray());
        await t.Volume.SymlinkAsync("/nowhere", "/d/l");
        await Errors.ThrowsErrno(Errno.ENOTEMPTY, () => t.Volume.DeleteDirectoryAsync("/d"));
        await t.Volume.DeleteDirectoryAsync("/d", recursive: true);
        Assert.False(await t.Volume.ExistsAsync("/d"));
        Assert.False(Directory.Exists(Path.Combine(t.BrickDir, "d")));
    }

    [Fact]
    public async Task Rmdir_on_a_file_and_unlink_on_a_directory_are_refused()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.MkdirAsync("/d");
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        await Errors.ThrowsErrno(Errno.ENOTDIR, () => t.Volume.DeleteDirectoryAsync("/f"));
        await Errors.ThrowsErrno(Errno.EISDIR, () => t.Volume.DeleteFileAsync("/d"));
    }

    [Fact]
    public async Task Deleting_a_file_removes_it()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", Array.Empty<byte>());
        Assert.True(await t.Volume.ExistsAsync("/f"));
        await t.Volume.DeleteFileAsync("/f");
        Assert.False(await t.Volume.ExistsAsync("/f"));
        await Errors.ThrowsErrno(Errno.ENOENT, () => t.Volume.DeleteFileAsync("/f"));
    }

    [Fact]
    public async Task Paths_are_normalised_for_dots_and_slashes()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.CreateDirectoryAsync("/a/b");
        await t.Volume.WriteAllBytesAsync("//a/./b//f", "x"u8.ToArray());
        Assert.Equal("x"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/a/b/../b/f"));
        Assert.True((await t.Volume.StatAsync("/..")).IsDir); // .. at the root stays at the root
    }
}
