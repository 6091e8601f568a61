using System.Globalization;
using System.Text;
using Graft.Client;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// What the tests of a brick's writeback path over a replica share (ABigWritesCopiesGoToDiskAsTheyAreWritten,
/// ABigWritesCopiesLeaveTheBricksPageCache): three brick processes started with the brick arguments under test, a
/// replica volume over them (no write-behind: each write is on every copy when it returns), a file of 1 MiB writes,
/// a look at each brick's copy of it, and every copy compared with what was written once the file is closed.
/// </summary>
internal static class BigReplicaWrite
{
    private const int MiB = 1 << 20;

    /// <summary>
    /// Writes <paramref name="sizeMiB"/> MiB to /big and returns <paramref name="look"/> of each brick's copy (its path).
    /// With <paramref name="settle"/> the looks are repeated, at most 15 s, until every copy is <paramref name="settled"/>
    /// (the work under test runs on the bricks' pools, behind the writes).
    /// </summary>
    public static async Task<T[]> WriteAndLookAsync<T>(int sizeMiB, int seed, bool settle, Func<string, Task<T>> look, Func<T, bool> settled,
        params string[] brickArgs)
    {
        var temp = BrickProcess.NewTempDir();
        var bricks = new List<BrickProcess>();
        Volume? v = null;
        try
        {
            await BrickProcess.ServeNewDirsAsync(temp, 3, bricks, brickArgs);
            v = await Volume.OpenVolfileTextAsync(Volfile(bricks.Select(b => b.Port).ToList()), "afr.vol",
                new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
            var data = new byte[sizeMiB * MiB];
            new Random(seed).NextBytes(data);
            var s = await v.OpenAsync("/big", FileMode.CreateNew);
            for (int i = 0; i < sizeMiB; i++) await s.WriteAsync(data.AsMemory(i * MiB, MiB));
            var seen = new T[3];
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            do
            {
                for (int i = 0; i < 3; i++) seen[i] = await look(Path.Combine(temp, "b" + i, "big"));
                if (!settle || seen.All(settled)) break;
                await Task.Delay(50);
            }
            while (DateTime.UtcNow < until);
            await s.DisposeAsync();
            for (int i = 0; i < 3; i++)
            {
                var copy = await File.ReadAllBytesAsync(Path.Combine(temp, "b" + i, "big"));
                Assert.True(data.AsSpan().SequenceEqual(copy), $"copy b{i} differs");
            }
            return seen;
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
