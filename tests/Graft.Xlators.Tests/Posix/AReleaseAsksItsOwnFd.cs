using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A release decides whether the file's handle must go from the link count of the fd it is closing (an fstat), not
/// from a stat of the handle's path (which reads the handle's two directories, from disk when they are cold): a file
/// with a name left keeps its handle without the path being read; a file whose last name went while it was open loses
/// its handle at its last release, as before (PosixGfidTests.File_unlinked_while_open_stays_reachable_by_gfid_until_release).
/// </summary>
public sealed class AReleaseAsksItsOwnFd
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task A_named_files_release_keeps_its_handle_without_reading_the_path()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "data");
        var before = b.Xl.ReleasesWithoutPath;
        await b.Release(fd);
        Assert.Equal(before + 1, b.Xl.ReleasesWithoutPath);
        Assert.True(File.Exists(b.HandlePath(f.Gfid)), "the handle of a file with a name stays");

        // Two names, one of them gone while open: a name is still left.
        var fd2 = await b.OpenOk(Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR);
        Assert.True((await b.Xl.LinkAsync(Root, Loc.Child(Gfid.Root, "f"), Loc.Child(Gfid.Root, "g"))).Ok);
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));
        await b.Release(fd2);
        Assert.Equal(before + 2, b.Xl.ReleasesWithoutPath);
        Assert.True(File.Exists(b.HandlePath(f.Gfid)), "g still names the file: its handle stays");
        Assert.Equal(4, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Value.Size);
    }

    [PosixFact]
    public async Task The_last_release_of_a_file_unlinked_while_open_drops_its_handle()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var fd2 = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));
        Assert.True(File.Exists(b.HandlePath(f.Gfid)), "open: the handle stays");

        var before = b.Xl.ReleasesWithoutPath;
        await b.Release(fd);
        Assert.True(File.Exists(b.HandlePath(f.Gfid)), "still open through fd2: the handle stays");
        await b.Release(fd2);
        Assert.False(File.Exists(b.HandlePath(f.Gfid)), "the last release dropped the nameless file's handle");
        Assert.Equal(before, b.Xl.ReleasesWithoutPath); // one link left: the path was asked which one
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);
    }
}
