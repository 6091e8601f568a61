using System.Diagnostics;
using System.Globalization;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// storage/posix's writeback-chunk through a replica volume over three brick processes: each copy of a big write has
/// its writeback started as the writes go (every 4 MB by default, on the brick's thread pool), so soon after the writes
/// are acknowledged, before any fsync, ext4 has allocated every copy's blocks but at most a chunk's (an extent still in
/// delayed allocation is what dirty pages nobody has started writing look like). With --writeback-chunk 0 the copies
/// stay in memory, as before.
/// </summary>
public class ABigWritesCopiesGoToDiskAsTheyAreWritten
{
    private const int MiB = 1 << 20;
    private const int Size = 16;
    private const int ChunkBlocks = 4 * MiB / 4096;

    [Fact]
    public async Task By_default_every_copy_is_on_its_way_to_disk_before_any_fsync()
    {
        var delayed = await WriteAndLookAsync(settle: true);
        Assert.All(delayed, d => Assert.True(d < ChunkBlocks, $"a copy still had {d} blocks in delayed allocation after 16 MiB of writes"));
    }

    [Fact]
    public async Task With_a_chunk_of_0_the_copies_wait_for_the_kernel()
    {
        var delayed = await WriteAndLookAsync(settle: false, "--writeback-chunk", "0");
        Assert.All(delayed, d => Assert.True(d >= ChunkBlocks, $"a copy had only {d} blocks in delayed allocation, though nothing started its writeback"));
    }

    /// <summary>Writes 16 MiB through the replica and returns, for each brick's copy, its blocks still in delayed allocation.</summary>
    /// <param name="settle">Wait (at most 15 s) until every copy has less than a chunk in delayed allocation: the starts run on the bricks' pools.</param>
    private static Task<long[]> WriteAndLookAsync(bool settle, params string[] brickArgs) =>
        BigReplicaWrite.WriteAndLookAsync(Size, 7, settle, DelayedBlocksAsync, d => d < ChunkBlocks, brickArgs);

    /// <summary>The file's blocks in extents ext4 reports as delayed allocation (filefrag -v: FIEMAP's flags).</summary>
    private static async Task<long> DelayedBlocksAsync(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("filefrag", ["-v", path]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(p.WaitForExit(30_000), "filefrag did not finish");
        Assert.True(p.ExitCode == 0, $"filefrag {path}: {await p.StandardError.ReadToEndAsync()}");
        Assert.Contains("ef53", output);  // ext4's magic: the test's temp directory is on ext4 on these machines
        long blocks = 0;
        foreach (var line in output.Split('\n'))
        {
            // "   0:        0..    2047:          0..         0:      0:             last,unknown_loc,delalloc,eof"
            if (!line.Contains("delalloc", StringComparison.Ordinal)) continue;
            var range = line.Split(':')[1].Split("..");
            blocks += long.Parse(range[1].Trim(), CultureInfo.InvariantCulture) - long.Parse(range[0].Trim(), CultureInfo.InvariantCulture) + 1;
        }
        return blocks;
    }
}
