using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// The brick writes as root, which keeps set-id bits; yet a write, copy_file_range or fallocate by a caller
/// without CAP_FSETID (any non-root caller) must clear the set-user-ID bit, and the set-group-ID bit when the file
/// is group-executable or the caller is outside its group, exactly as the kernel does for a local write. This is
/// the brick's job, whatever the front end: a library client has no kernel to do it.
/// </summary>
public sealed class PosixWritesClearSetIdBits
{
    const uint Owner = 4242, Other = 4243;
    static FopContext As(uint uid, params uint[] groups) => FopContext.ForCaller(uid, uid, groups);

    /// <summary>A file owned by <see cref="Owner"/> with <paramref name="mode"/>, opened read-write by <paramref name="ctx"/>.</summary>
    static async Task<(Iatt, Fd)> SetIdFile(PosixBrick b, string name, uint mode, FopContext ctx)
    {
        var (f, fd) = await b.CreateOk(Gfid.Root, name);
        await b.Release(fd);
        var set = new SetAttr { Valid = SetAttrValid.Uid | SetAttrValid.Gid, Uid = Owner, Gid = Owner };
        Assert.True((await b.Xl.SetattrAsync(PosixBrick.Root, Loc.Nameless(f.Gfid), set)).Ok);
        Assert.True((await b.Xl.SetattrAsync(PosixBrick.Root, Loc.Nameless(f.Gfid), new SetAttr { Valid = SetAttrValid.Mode, Mode = mode })).Ok);
        return (f, await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDWR, ctx));
    }

    static async Task<uint> ModeOf(PosixBrick b, Gfid g) => (await b.Xl.StatAsync(PosixBrick.Root, Loc.Nameless(g))).Value.Mode & FileMode.PermMask;

    [PosixTheory]
    [InlineData(0xDF6u /* 6766 */, Other, new uint[0], 0x1F6u /* 0766 */)]
    [InlineData(0xDFFu /* 6777 */, Other, new uint[0], 0x1FFu /* 0777 */)]
    [InlineData(0x5F6u /* 2766 */, Other, new uint[0], 0x1F6u /* 0766: outside the group */)]
    [InlineData(0x5F6u /* 2766 */, Other, new[] { Owner }, 0x5F6u /* 2766: in the group, no group x */)]
    [InlineData(0x5FEu /* 2776 */, Other, new[] { Owner }, 0x1FEu /* 0776: group x */)]
    [InlineData(0x9F6u /* 4766 */, Owner, new uint[0], 0x1F6u /* 0766: the owner too */)]
    [InlineData(0xDFFu /* 6777 */, 0u, new uint[0], 0xDFFu /* root keeps them */)]
    public async Task A_write_clears_what_the_kernel_would(uint mode, uint uid, uint[] groups, uint expected)
    {
        await using var b = await PosixBrick.StartAsync();
        var ctx = As(uid, groups);
        var (f, fd) = await SetIdFile(b, "f", mode, ctx);
        var w = await b.Xl.WritevAsync(ctx, fd, "more"u8.ToArray(), 0);
        Assert.True(w.Ok, $"write: {w.Error}");
        Assert.Equal(expected, await ModeOf(b, f.Gfid));
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Fallocate_and_copy_file_range_into_the_file_clear_them_too()
    {
        await using var b = await PosixBrick.StartAsync();
        var other = As(Other);
        var (f1, fd1) = await SetIdFile(b, "f1", 0x9F6 /* 4766 */, other);
        Assert.Equal(Errno.OK, await b.Xl.FallocateAsync(other, fd1, 0, 0, 4096));
        Assert.Equal(0x1F6u, await ModeOf(b, f1.Gfid));

        var (f2, fd2) = await SetIdFile(b, "f2", 0x9F6 /* 4766 */, other);
        var copied = await b.Xl.CopyFileRangeAsync(other, fd1, 0, fd2, 0, 100, 0);
        Assert.True(copied.Ok, $"copy_file_range: {copied.Error}");
        Assert.Equal(0x1F6u, await ModeOf(b, f2.Gfid));
        await b.Release(fd1);
        await b.Release(fd2);
    }

    [PosixFact]
    public async Task A_write_to_a_file_without_set_id_bits_changes_no_mode_and_fails_as_before()
    {
        await using var b = await PosixBrick.StartAsync();
        var other = As(Other);
        var (f, fd) = await SetIdFile(b, "f", 0x1B6 /* 0666 */, other);
        Assert.True((await b.Xl.WritevAsync(other, fd, "x"u8.ToArray(), 0)).Ok);
        Assert.Equal(0x1B6u, await ModeOf(b, f.Gfid));
        // Errors are still the write's own: a descriptor opened read-only cannot be written, set-id bits or not.
        var (g, ro) = await SetIdFile(b, "g", 0x9F6, other);
        await b.Release(ro);
        ro = await b.OpenOk(Loc.Nameless(g.Gfid), OpenFlags.O_RDONLY, other);
        Assert.Equal(Errno.EBADF, (await b.Xl.WritevAsync(other, ro, "x"u8.ToArray(), 0)).Error);
        Assert.Equal(0x9F6u, await ModeOf(b, g.Gfid));
        await b.Release(fd);
        await b.Release(ro);
    }
}
