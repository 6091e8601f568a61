using Graft.EndToEnd.Tests.Metrics;
using Graft.EndToEnd.Tests.Retirement;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A `graft brick` process writes big writes' data from the socket into the file through a pipe (write-splice, on by
/// default; `--write-splice 0` copies as before): writes of every size and offset, across holes and over each other,
/// leave the file with exactly the bytes written either way, and the brick's metrics say which way they went.
/// </summary>
public class ABrickProcessSplicesBigWrites
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("0", false)]
    public async Task Writes_of_every_size_and_offset_land_intact(string? writeSplice, bool spliced)
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, NetVolume.Brick);
        Directory.CreateDirectory(dir);
        try
        {
            string[] more = writeSplice is null ? ["--metrics", "127.0.0.1:0"] : ["--metrics", "127.0.0.1:0", "--write-splice", writeSplice];
            await using var brick = await BrickProcess.ServeDirAsync(dir, 0, more);
            var url = brick.Log.Select(l => l.StartsWith("out: metrics on ", StringComparison.Ordinal) ? l["out: metrics on ".Length..] : null).Single(u => u is not null)!;
            var g = await NetClient.ConnectAsync(brick.Port, NetVolume.Brick);
            var c = (ProtocolClient)g.Top;
            var fd = await WritesOfEveryShape.CreateAsync(c, g.Inodes, "f");

            var expected = await WritesOfEveryShape.WriteAllAsync(c, fd);

            WritesOfEveryShape.Check(Path.Combine(dir, "f"), expected);
            var n = PrometheusText.Value(await PrometheusText.ScrapeAsync(url), "graft_brick_writes_spliced_total");
            // 65,536 bytes and up, at every offset: 4 sizes × 5 offsets.
            if (spliced) Assert.Equal(4 * WritesOfEveryShape.Offsets.Length, n);
            else Assert.Equal(0, n);
            await FopScenario.Release(c, fd);
            await g.StopAsync();
        }
        finally
        {
            await LibraryOverABrickProcess.RemoveTreeAsync(temp);
        }
    }
}
