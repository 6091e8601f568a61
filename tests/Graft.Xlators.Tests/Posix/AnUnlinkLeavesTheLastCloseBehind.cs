using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// An unlink answers before the file's last descriptor is closed: that close frees the inode (the filesystem's
/// work, up to milliseconds behind the journal), and the closing thread does it (CloseBehind).
/// </summary>
public sealed class AnUnlinkLeavesTheLastCloseBehind
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task The_unlink_returns_while_its_descriptor_waits_to_be_closed_and_the_closer_then_closes_it()
    {
        await using var b = await PosixBrick.StartAsync();
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "some data");
        await b.Release(fd);
        string gone = Path.Combine(b.Dir, "f") + " (deleted)";
        long handed = CloseBehind.Handed;
        using (CloseBehind.Hold())
        {
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));
            Assert.False(File.Exists(Path.Combine(b.Dir, "f")));
            Assert.True(CloseBehind.Handed > handed, "the unlink handed its descriptor to the closing thread");
            Assert.True(OpenOn(gone) == 1, "the unlinked file's descriptor is still open after the unlink answered");
        }
        var sw = Stopwatch.StartNew();
        while (OpenOn(gone) > 0 && sw.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(10);
        Assert.True(OpenOn(gone) == 0, "the closing thread closed the descriptor once let go");
    }

    [PosixFact]
    public async Task A_backlog_of_closes_gets_more_closing_threads_and_all_are_closed()
    {
        // Where freeing an inode waits for the device (a synchronous discard), one thread would close them one
        // device wait at a time: a backlog deeper than the closers there are starts another, up to MaxClosers.
        await using var b = await PosixBrick.StartAsync();
        int files = 2 * CloseBehind.MaxClosers + 2;
        for (int i = 0; i < files; i++)
        {
            var (_, fd) = await b.CreateOk(Gfid.Root, $"f{i}");
            await b.Release(fd);
        }
        using (CloseBehind.Hold())
        {
            for (int i = 0; i < files; i++) Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, $"f{i}")));
            Assert.Equal(CloseBehind.MaxClosers, CloseBehind.Closers);
            for (int i = 0; i < files; i++)
                Assert.True(OpenOn(Path.Combine(b.Dir, $"f{i}") + " (deleted)") == 1, $"f{i}'s descriptor waits to be closed");
        }
        var sw = Stopwatch.StartNew();
        int left = files;
        while (left > 0 && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            left = Enumerable.Range(0, files).Count(i => OpenOn(Path.Combine(b.Dir, $"f{i}") + " (deleted)") > 0);
            if (left > 0) await Task.Delay(10);
        }
        Assert.True(left == 0, $"{left} unlinked files' descriptors are still open once the closers were let go");
    }

    /// <summary>Descriptors of this process whose target is <paramref name="target"/>.</summary>
    private static int OpenOn(string target)
    {
        int n = 0;
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try { if (new FileInfo(link).LinkTarget == target) n++; }
            catch (IOException) { }            // closed while we looked
            catch (UnauthorizedAccessException) { }
        }
        return n;
    }
}
