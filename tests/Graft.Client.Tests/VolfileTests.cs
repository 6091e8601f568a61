using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>A volume opened in process from a volfile, as gfapi does.</summary>
public class VolfileTests
{
    private static string Volfile(string dir) => $"""
        volume brick
            type storage/posix
            option directory {dir}
        end-volume

        volume wb
            type performance/write-behind
            subvolumes brick
        end-volume

        volume top
            type debug/passthrough
            subvolumes wb
        end-volume
        """;

    [Fact]
    public async Task A_volume_opened_from_volfile_text_reads_and_writes_its_brick()
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-client-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using (var v = await Volume.OpenVolfileTextAsync(Volfile(dir)))
            {
                Assert.Equal(["brick", "wb", "top"], v.Session.ActiveGraph.Translators.Select(t => t.Name));
                await v.WriteAllBytesAsync("/hello", "world"u8.ToArray());
                Assert.Equal("world"u8.ToArray(), await v.ReadAllBytesAsync("/hello"));
            }
            Assert.Equal("world"u8.ToArray(), await File.ReadAllBytesAsync(Path.Combine(dir, "hello")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task A_volume_opened_from_a_volfile_path_works_the_same()
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-client-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var brick = Path.Combine(dir, "brick");
        Directory.CreateDirectory(brick);
        var vol = Path.Combine(dir, "client.vol");
        await File.WriteAllTextAsync(vol, Volfile(brick));
        try
        {
            await using var v = await Volume.OpenVolfileAsync(vol);
            await v.MkdirAsync("/d");
            Assert.True((await v.StatAsync("/d")).IsDir);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task A_bad_volfile_is_rejected_before_anything_starts()
    {
        await Assert.ThrowsAsync<VolfileException>(() => Volume.OpenVolfileTextAsync("volume x\n type no/such\nend-volume\n"));
    }
}
