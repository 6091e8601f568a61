using System.Text;
using System.Text.Json;
using Graft.Client;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Cli.Tests;

/// <summary>
/// `graft rebalance --fix-layout` after a brick was added (in-process bricks): every directory gets
/// a layout over all subvolumes, old files stay readable, new names reach the new brick; a rerun
/// writes nothing; what is not built yet says so.
/// </summary>
public sealed class RebalanceFixLayout : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "graft-cli-rebalance", Guid.NewGuid().ToString("N"));
    public void Dispose()
    {
        _cli.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Volfile(int n)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            Directory.CreateDirectory(Path.Combine(_root, "b" + i));
            sb.Append($"volume b{i}\n type storage/posix\n option directory {Path.Combine(_root, "b" + i)}\nend-volume\n");
        }
        sb.Append("volume dht\n type cluster/distribute\n subvolumes ").AppendJoin(' ', Enumerable.Range(0, n).Select(i => "b" + i)).Append("\nend-volume\n");
        return _cli.WriteFile($"v{n}.vol", sb.ToString());
    }

    [Fact]
    public async Task Every_directory_spreads_over_the_new_brick_and_a_rerun_writes_nothing()
    {
        var two = Volfile(2);
        await using (var v = await Volume.OpenVolfileAsync(two))
        {
            await v.CreateDirectoryAsync("/a/b");
            for (int i = 0; i < 40; i++) await v.WriteAllBytesAsync($"/a/f{i}", new byte[] { (byte)i });
        }
        var three = Volfile(3);
        var (code, output, err) = CliRunner.Run("rebalance", "--volfile", three, "--fix-layout", "--json");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("rebalance: 0 moved, 0 skipped, 0 failed", lines[^1]);
        Assert.Equal("fix-layout: 3 directories, 3 layouts written, 40 files seen", lines[^2]);
        using (var last = JsonDocument.Parse(lines[^3]))
        {
            Assert.True(last.RootElement.GetProperty("done").GetBoolean());
            Assert.Equal(3, last.RootElement.GetProperty("directories").GetInt64());
        }
        await using (var v = await Volume.OpenVolfileAsync(three))
        {
            foreach (var dir in new[] { "/", "/a", "/a/b" })
            {
                var layout = Encoding.UTF8.GetString(await v.GetXattrAsync(dir, DistributeTranslator.LayoutKey));
                Assert.DoesNotContain("none", layout);
                Assert.DoesNotContain("incomplete", layout);
                Assert.Contains("2=", layout);
            }
            for (int i = 0; i < 40; i++) Assert.Equal(new[] { (byte)i }, await v.ReadAllBytesAsync($"/a/f{i}"));
            for (int i = 0; i < 60; i++) await v.WriteAllBytesAsync($"/a/new{i}", new byte[] { 1 });
        }
        Assert.Contains(Directory.GetFiles(Path.Combine(_root, "b2", "a")), f => Path.GetFileName(f).StartsWith("new", StringComparison.Ordinal));

        (code, output, _) = CliRunner.Run("rebalance", "--volfile", three, "--fix-layout");
        Assert.Equal(0, code);
        Assert.Contains("fix-layout: 3 directories, 0 layouts written", output);
    }

    [Fact]
    public void Moving_files_is_not_offered_yet_and_says_so()
    {
        var v = Volfile(2);
        var (code, _, err) = CliRunner.Run("rebalance", "--volfile", v);
        Assert.Equal(2, code);
        Assert.Contains("not available yet", err);
        (code, _, err) = CliRunner.Run("rebalance", "--volfile", v, "--remove", "b1");
        Assert.Equal(2, code);
        Assert.Contains("not available yet", err);
    }
}
