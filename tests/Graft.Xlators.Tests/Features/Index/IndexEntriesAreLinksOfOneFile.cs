using System.Runtime.InteropServices;
using Graft.Xlators.Tests.Posix;

namespace Graft.Xlators.Tests.Features.Index;

/// <summary>
/// features/index records an object by linking one empty file (pending-base, beside the pending
/// directory) under the object's GFID, so a transaction allocates and frees no inode on the brick;
/// a base that is gone is made again, and the entries linked to the old one stay.
/// </summary>
public partial class IndexEntriesAreLinksOfOneFile
{
    private static string BaseOf(IndexBrick b) => Path.Combine(Path.GetDirectoryName(b.PendingDir)!, "pending-base");

    [PosixFact]
    public async Task Every_entry_is_the_same_inode_as_the_base()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        var g = await b.CreateAsync("g");
        await b.XattropOk(f, IndexBrick.PendingA, 1, 0);
        await b.XattropOk(g, IndexBrick.PendingB, 0, 1);
        var (ino, links) = InodeOf(BaseOf(b));
        Assert.Equal(ino, InodeOf(Path.Combine(b.PendingDir, f.ToString())).Ino);
        Assert.Equal(ino, InodeOf(Path.Combine(b.PendingDir, g.ToString())).Ino);
        Assert.Equal(3UL, links);
        Assert.Equal(new[] { f, g }.OrderBy(x => x).ToList(), await b.PageAsync());
        await b.XattropOk(f, IndexBrick.PendingA, -1, 0);
        Assert.Equal(2UL, InodeOf(BaseOf(b)).Links);
    }

    [PosixFact]
    public async Task A_base_that_is_gone_is_made_again_and_the_entries_stay()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        var g = await b.CreateAsync("g");
        await b.XattropOk(f, IndexBrick.PendingA, 1);
        File.Delete(BaseOf(b));
        await b.XattropOk(g, IndexBrick.PendingA, 1);
        Assert.True(File.Exists(BaseOf(b)));
        Assert.Equal(InodeOf(BaseOf(b)).Ino, InodeOf(Path.Combine(b.PendingDir, g.ToString())).Ino);
        Assert.Equal(new[] { f, g }.OrderBy(x => x).ToList(), await b.PageAsync());
        await b.XattropOk(f, IndexBrick.PendingA, -1);
        Assert.Equal([g], await b.PageAsync());
    }

    [PosixFact]
    public async Task A_restarted_brick_links_to_a_new_base_and_keeps_what_was_recorded()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        await b.XattropOk(f, IndexBrick.PendingA, 1);
        var before = InodeOf(BaseOf(b)).Ino;
        await b.RestartAsync();
        Assert.NotEqual(before, InodeOf(BaseOf(b)).Ino);
        Assert.Equal([f], await b.PageAsync());
        var g = await b.CreateAsync("g");
        await b.XattropOk(g, IndexBrick.PendingA, 1);
        Assert.Equal(new[] { f, g }.OrderBy(x => x).ToList(), await b.PageAsync());
    }

    /// <summary>st_ino and st_nlink of <paramref name="path"/> (x86-64 struct stat: dev, ino, nlink first).</summary>
    private static (ulong Ino, ulong Links) InodeOf(string path)
    {
        var buf = new byte[256];
        Assert.True(Stat(path, buf) == 0, $"stat {path}: errno {Marshal.GetLastPInvokeError()}");
        return (BitConverter.ToUInt64(buf, 8), BitConverter.ToUInt64(buf, 16));
    }

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, byte[] buf);
}
