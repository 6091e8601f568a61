using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>open(2) semantics: O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW and the FileMode mapping.</summary>
public class OpenFlagTests
{
    [Fact]
    public async Task Opening_a_missing_file_without_create_is_not_found()
    {
        await using var t = await TestVolume.CreateAsync();
        var e = await Errors.ThrowsErrno(Errno.ENOENT, () => t.Volume.OpenAsync("/missing", FileMode.Open));
        Assert.IsType<GraftNotFoundException>(e);
        Assert.IsAssignableFrom<IOException>(e);
        Assert.Equal("/missing", e.Path);
    }

    [Fact]
    public async Task CreateNew_and_O_EXCL_refuse_an_existing_file()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "keep"u8.ToArray());
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.OpenAsync("/f", FileMode.CreateNew, FileAccess.Write));
        await Errors.ThrowsErrno(Errno.EEXIST, () => t.Volume.OpenAsync("/f", OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL));
        Assert.Equal("keep"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task OpenOrCreate_creates_once_and_then_opens_without_truncating()
    {
        await using var t = await TestVolume.CreateAsync();
        await using (var s = await t.Volume.OpenAsync("/f", FileMode.OpenOrCreate, FileAccess.Write))
            await s.WriteAsync("abc"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/f", FileMode.OpenOrCreate, FileAccess.ReadWrite))
            Assert.Equal(3, s.Length);
    }

    [Fact]
    public async Task Create_Truncate_and_O_TRUNC_empty_an_existing_file()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "0123456789"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/f", FileMode.Truncate, FileAccess.Write)) Assert.Equal(0, s.Length);
        await t.Volume.WriteAllBytesAsync("/f", "0123456789"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/f", OpenFlags.O_RDWR | OpenFlags.O_TRUNC)) Assert.Equal(0, s.Length);
        await t.Volume.WriteAllBytesAsync("/f", "0123456789"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/f", FileMode.Create, FileAccess.Write)) Assert.Equal(0, s.Length);
    }

    [Fact]
    public async Task Append_writes_land_at_the_end_wherever_the_position_is()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/log", "one\n"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/log", FileMode.Append, FileAccess.Write))
        {
            s.Position = 0;
            await s.WriteAsync("two\n"u8.ToArray());
            Assert.Equal(8, s.Position); // follows the end, as a kernel O_APPEND fd does
        }
        await using (var s = await t.Volume.OpenAsync("/log", OpenFlags.O_WRONLY | OpenFlags.O_APPEND))
            await s.WriteAsync("three\n"u8.ToArray());
        Assert.Equal("one\ntwo\nthree\n"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/log"));
    }

    [Fact]
    public async Task New_files_get_the_requested_mode_less_the_umask()
    {
        await using var t = await TestVolume.CreateAsync(new VolumeOptions { Umask = 0x12 }); // 022
        await using (await t.Volume.OpenAsync("/f", OpenFlags.O_WRONLY | OpenFlags.O_CREAT, permissions: 0x1B6)) { } // 0666
        Assert.Equal(0x1A4u, (await t.Volume.StatAsync("/f")).Mode & PosixMode.PermMask);    // 0644
    }

    [Fact]
    public async Task A_directory_cannot_be_opened_as_a_stream()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.MkdirAsync("/d");
        await Errors.ThrowsErrno(Errno.EISDIR, () => t.Volume.OpenAsync("/d", FileMode.Open, FileAccess.Read));
        await Errors.ThrowsErrno(Errno.EISDIR, () => t.Volume.OpenAsync("/d", FileMode.OpenOrCreate, FileAccess.Write));
    }

    [Fact]
    public async Task O_NOFOLLOW_refuses_a_symlink_and_without_it_the_link_is_followed()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/target", "T"u8.ToArray());
        await t.Volume.SymlinkAsync("target", "/link");
        await Errors.ThrowsErrno(Errno.ELOOP, () => t.Volume.OpenAsync("/link", OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW));
        Assert.Equal("T"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/link"));
        await using (var s = await t.Volume.OpenAsync("/link", FileMode.OpenOrCreate, FileAccess.Read)) Assert.Equal(1, s.Length);
    }

    [Fact]
    public void FileMode_maps_to_open_flags_and_rejects_read_only_truncation()
    {
        Assert.Equal(OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL, Volume.ToFlags(FileMode.CreateNew, FileAccess.Write));
        Assert.Equal(OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_TRUNC, Volume.ToFlags(FileMode.Create, FileAccess.ReadWrite));
        Assert.Equal(OpenFlags.O_RDONLY, Volume.ToFlags(FileMode.Open, FileAccess.Read));
        Assert.Equal(OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND, Volume.ToFlags(FileMode.Append, FileAccess.Write));
        Assert.Throws<ArgumentException>(() => Volume.ToFlags(FileMode.Truncate, FileAccess.Read));
    }
}
