using Graft.Core;
using Graft.EndToEnd.Tests.Metrics;
using Graft.EndToEnd.Tests.Retirement;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A `graft brick` process sends big reads' data from the page cache to the socket (read-splice, on by default;
/// `--read-splice 0` copies as before): reads of every size and offset, across a hole and over the end of the file,
/// give the file's exact bytes either way, and the brick's metrics say which way they went.
/// </summary>
public class ABrickProcessSplicesBigReads
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("0", false)]
    public async Task Reads_of_every_size_and_offset_come_back_intact(string? readSplice, bool spliced)
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, NetVolume.Brick);
        Directory.CreateDirectory(dir);
        try
        {
            string[] more = readSplice is null ? ["--metrics", "127.0.0.1:0"] : ["--metrics", "127.0.0.1:0", "--read-splice", readSplice];
            await using var brick = await BrickProcess.ServeDirAsync(dir, 0, more);
            var url = brick.Log.Select(l => l.StartsWith("out: metrics on ", StringComparison.Ordinal) ? l["out: metrics on ".Length..] : null).Single(u => u is not null)!;
            var g = await NetClient.ConnectAsync(brick.Port, NetVolume.Brick);
            var c = (ProtocolClient)g.Top;
            var fd = await ReadsOfEveryShape.CreateAsync(c, g.Inodes, "f");

            await ReadsOfEveryShape.ReadAllAsync(c, fd);

            var n = PrometheusText.Value(await PrometheusText.ScrapeAsync(url), "graft_brick_reads_spliced_total");
            if (spliced) Assert.True(n >= ReadsOfEveryShape.Offsets.Length, $"only {n} reads spliced");
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
