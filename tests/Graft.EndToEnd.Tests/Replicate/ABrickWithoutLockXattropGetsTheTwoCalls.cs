using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Graft.Client;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// Replicate over three `graft brick` processes, one of which the client treats as an older brick
/// (its protocol/client has <c>lock-xattrop off</c>, so the brick is not granted inodelk-xattrop at the
/// handshake): the bricks that grant it serve each transaction's lock with its pre-op, and its post-op
/// with its unlock, as one request each; the other serves the separate inodelk and xattrop calls,
/// exactly as many of each; and the copies end equal and clean.
/// </summary>
public partial class ABrickWithoutLockXattropGetsTheTwoCalls
{
    [Fact]
    public async Task Each_brick_gets_what_it_speaks_and_the_copies_end_equal_and_clean()
    {
        var temp = BrickProcess.NewTempDir();
        var bricks = new List<BrickProcess>();
        Volume? v = null;
        try
        {
            var urls = new List<string>();
            for (int i = 0; i < 3; i++)
            {
                var dir = Path.Combine(temp, "b" + i);
                Directory.CreateDirectory(dir);
                var b = await BrickProcess.ServeDirAsync(dir, 0, "--metrics", "127.0.0.1:0");
                bricks.Add(b);
                urls.Add((await b.WaitForLogAsync("metrics on ")).Split("metrics on ")[1].Trim());
            }
            v = await Volume.OpenVolfileTextAsync(Volfile(bricks, older: 1), "afr.vol", new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
            await v.WriteAllBytesAsync("/f", "hello"u8.ToArray());
            await v.ChmodAsync("/f", 0x180);
            await using (var s = await v.OpenAsync("/f", FileMode.Open))
            {
                s.Seek(5, SeekOrigin.Begin);
                await s.WriteAsync(" world"u8.ToArray());
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            // A brick counts a request once its reply is queued, so the client may see the reply first: wait for the counts to settle.
            Dictionary<string, long>[] counts = [];
            await ClientGraphsUntil(async () =>
            {
                counts = [.. await Task.WhenAll(urls.Select(async u => Served(await http.GetStringAsync(u))))];
                long combined = counts[0].GetValueOrDefault("inodelkxattrop");
                return combined > 0 && counts[2].GetValueOrDefault("inodelkxattrop") == combined
                       && counts[1].GetValueOrDefault("inodelk") == combined && counts[1].GetValueOrDefault("xattrop") == combined;
            }, () => string.Join("\n", counts.Select((c, i) => $"b{i}: " + string.Join(", ", c.Select(kv => $"{kv.Key} {kv.Value}")))));
            foreach (var i in new[] { 0, 2 })
            {
                Assert.Equal(0, counts[i].GetValueOrDefault("inodelk"));
                Assert.Equal(0, counts[i].GetValueOrDefault("xattrop"));
            }
            Assert.Equal(0, counts[1].GetValueOrDefault("inodelkxattrop"));

            for (int i = 0; i < 3; i++)
            {
                var path = Path.Combine(temp, "b" + i, "f");
                Assert.Equal("hello world", await File.ReadAllTextAsync(path));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                for (int j = 0; j < 3; j++)
                    if (Xattr.Get(path, Pending.NameFor("b" + j)) is { } counters)
                        for (int k = 0; k < Pending.Kinds; k++) Assert.Equal(0, Pending.Read(counters, k));
            }
        }
        finally
        {
            if (v is not null) await v.DisposeAsync();
            foreach (var b in bricks) await b.DisposeAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task ClientGraphsUntil(Func<Task<bool>> cond, Func<string> what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await cond())
        {
            Assert.True(DateTime.UtcNow < until, "the bricks' request counts did not settle:\n" + what());
            await Task.Delay(50);
        }
    }

    [GeneratedRegex("""^graft_brick_fop_duration_seconds_count\{.*fop="([a-z_]+)".*\} ([0-9.e+]+)$""", RegexOptions.Multiline)]
    private static partial Regex FopCount();

    /// <summary>Requests served by fop, from a brick's metrics page.</summary>
    private static Dictionary<string, long> Served(string page)
    {
        var d = new Dictionary<string, long>();
        foreach (Match m in FopCount().Matches(page)) d[m.Groups[1].Value] = (long)double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return d;
    }

    private static string Volfile(List<BrickProcess> bricks, int older)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < bricks.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"volume b{i}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {bricks[i].Port}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\n");
            if (i == older) sb.Append("    option lock-xattrop off\n");
            sb.Append("end-volume\n\n");
        }
        return sb.Append("volume afr\n    type cluster/replicate\n    subvolumes b0 b1 b2\nend-volume\n").ToString();
    }
}
