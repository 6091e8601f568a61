using System.Globalization;
using System.Text;
using Graft.Client;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Posix;
using Graft.Xlators.Tests.Protocol;

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
    private static async Task<int[]> WriteAndLookAsync(bool settle, params string[] brickArgs)
    {
        var temp = BrickProcess.NewTempDir();
        var bricks = new List<BrickProcess>();
        Volume? v = null;
        try
        {
            await BrickProcess.ServeNewDirsAsync(temp, 3, bricks, brickArgs);
            v = await Volume.OpenVolfileTextAsync(Volfile(bricks.Select(b => b.Port).ToList()), "afr.vol",
                new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
            var data = new byte[Size * MiB];
            new Random(11).NextBytes(data);
            var s = await v.OpenAsync("/big", FileMode.CreateNew);
            for (int i = 0; i < Size; i++) await s.WriteAsync(data.AsMemory(i * MiB, MiB));
            var cached = new int[3];
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            do
            {
                for (int i = 0; i < 3; i++)
                {
                    var path = Path.Combine(temp, "b" + i, "big");
                    cached[i] = PageCache.Count(PageCache.Resident(path, (long)Size * MiB), 0, (long)Size * MiB);
                }
                if (!settle || cached.All(c => c <= KeptPages)) break;
                await Task.Delay(50);
            }
            while (DateTime.UtcNow < until);
            await s.DisposeAsync();
            for (int i = 0; i < 3; i++)
            {
                var copy = await File.ReadAllBytesAsync(Path.Combine(temp, "b" + i, "big"));
                Assert.True(data.AsSpan().SequenceEqual(copy), $"copy b{i} differs");
            }
            return cached;
        }
        finally
        {
            if (v is not null) await v.DisposeAsync();
            foreach (var b in bricks) await b.DisposeAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static string Volfile(List<int> ports)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < ports.Count; i++)
            sb.Append(CultureInfo.InvariantCulture, $"volume b{i}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {ports[i]}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\nend-volume\n\n");
        return sb.Append("volume afr\n    type cluster/replicate\n    subvolumes b0 b1 b2\nend-volume\n").ToString();
    }
}
