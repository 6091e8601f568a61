using Graft.Xlators.Tests.Posix;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// storage/posix's drop-behind through a replica volume over three brick processes: each brick drops a big write's
/// chunks from its page cache once they are on disk (on its thread pool, a chunk behind the writes), so of a 32 MiB
/// copy only the last chunks stay cached, and every copy holds what was written. With --drop-behind off every copy
/// stays in the bricks' page cache, as before.
/// </summary>
public class ABigWritesCopiesLeaveTheBricksPageCache
{
    private const int MiB = 1 << 20;
    private const int Size = 32;
    /// <summary>What a copy may keep cached: the chunk not yet dropped, the one whose start was running, and a spare.</summary>
    private const int KeptPages = 3 * 4 * MiB / PageCache.PageSize;

    [Fact]
    public async Task By_default_each_copy_keeps_only_its_last_chunks_cached()
    {
        var cached = await WriteAndLookAsync(settle: true);
        Assert.All(cached, c => Assert.True(c <= KeptPages, $"a copy still had {c} pages cached after 32 MiB of writes"));
    }

    [Fact]
    public async Task With_drop_behind_off_the_copies_stay_cached()
    {
        var cached = await WriteAndLookAsync(settle: false, "--drop-behind", "off");
        Assert.All(cached, c => Assert.True(c > KeptPages, $"a copy had only {c} pages cached, though nothing dropped them"));
    }

    /// <summary>Writes 32 MiB through the replica and returns, for each brick's copy, its pages in the page cache.</summary>
    /// <param name="settle">Wait (at most 15 s) until every copy keeps at most <see cref="KeptPages"/>: the drops run on the bricks' pools.</param>
    private static Task<int[]> WriteAndLookAsync(bool settle, params string[] brickArgs) =>
        BigReplicaWrite.WriteAndLookAsync(Size, 11, settle,
            path => Task.FromResult(PageCache.Count(PageCache.Resident(path, (long)Size * MiB), 0, (long)Size * MiB)),
            c => c <= KeptPages, brickArgs);
}
