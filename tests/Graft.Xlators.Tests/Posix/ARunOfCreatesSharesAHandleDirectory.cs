using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A brick makes a second-level handle directory (.graft/handles/xx/yy) before the first handle goes into it: files a
/// client makes with GFIDs of one run (<see cref="GfidRuns"/>) share one such directory, where random GFIDs make one
/// per file.
/// </summary>
public sealed class ARunOfCreatesSharesAHandleDirectory
{
    [PosixFact]
    public async Task A_run_of_creates_makes_one_handle_directory_where_random_gfids_make_one_each()
    {
        await using var b = await PosixBrick.StartAsync();
        var runs = new GfidRuns();
        const int n = 64;
        for (int i = 0; i < n; i++)
        {
            var (_, fd) = await b.CreateOk(Gfid.Root, $"run{i}", gfid: runs.Next());
            await b.Release(fd);
        }
        Assert.Equal(1, SecondLevelDirs(b));

        for (int i = 0; i < n; i++)
        {
            var (_, fd) = await b.CreateOk(Gfid.Root, $"random{i}", gfid: Gfid.NewGfid());
            await b.Release(fd);
        }
        // 64 random prefixes out of 65,536: almost surely 64 new directories (at least 60 allows a few to collide).
        Assert.InRange(SecondLevelDirs(b), 1 + 60, 1 + n);
    }

    private static int SecondLevelDirs(PosixBrick b)
    {
        var handles = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(b.HandlePath(Gfid.NewGfid())))!)!;
        return Directory.EnumerateDirectories(handles).Sum(xx => Directory.EnumerateDirectories(xx).Count());
    }
}
