using Graft.Client;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A library client has no kernel to clear set-id bits for it: a non-root caller's write through protocol/client
/// to a real brick process clears them there, by the same rule as a local write (the set-group-ID bit only when the
/// file is group-executable or the writer is outside its group); root's writes keep them.
/// </summary>
public class WritesClearSetIdBitsThroughTheLibrary
{
    const uint Owner = 4242, Other = 4243;

    static VolumeOptions As(uint uid, params uint[] groups) =>
        new() { Uid = uid, Gid = uid, Groups = groups, ChildUpTimeout = TimeSpan.FromSeconds(15) };

    static async Task<uint> WriteAs(LibraryOverABrickProcess l, Volume writer, string name, uint mode)
    {
        await l.Volume.WriteAllBytesAsync(name, "data"u8.ToArray());
        await l.Volume.ChownAsync(name, Owner, Owner);
        await l.Volume.ChmodAsync(name, mode);
        await using (var f = await writer.OpenAsync(name, FileMode.Open, FileAccess.Write))
            await f.WriteAsync("more"u8.ToArray());
        return (await l.Volume.StatAsync(name)).Mode & 0xFFF;
    }

    [Fact]
    public async Task Only_callers_without_CAP_FSETID_clear_them_and_only_as_the_kernel_would()
    {
        await using var l = await LibraryOverABrickProcess.StartAsync();
        await using var other = await l.OpenAsAsync(As(Other));
        await using var inGroup = await l.OpenAsAsync(As(Other, Owner));
        Assert.Equal(0x1F6u /* 0766 */, await WriteAs(l, other, "/a", 0x9F6 /* 4766 */));
        Assert.Equal(0x1FFu /* 0777 */, await WriteAs(l, other, "/b", 0xDFF /* 6777 */));
        Assert.Equal(0x1F6u /* 0766 */, await WriteAs(l, other, "/c", 0x5F6 /* 2766: not in the group */));
        Assert.Equal(0x5F6u /* 2766 */, await WriteAs(l, inGroup, "/d", 0x5F6 /* 2766: in the group, no group x */));
        Assert.Equal(0xDFFu /* 6777 */, await WriteAs(l, l.Volume, "/e", 0xDFF /* root writes */));
        // The brick's own disk says the same.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite, File.GetUnixFileMode(Path.Combine(l.BrickDir, "a")));
    }
}
