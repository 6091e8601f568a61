using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Graft.Client;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Cli.Tests;

/// <summary>
/// `graft heal` over in-process bricks (no heal index: the tree is walked): a stale copy is healed and
/// counted, --info then finds nothing, a split brain makes --info and a pass exit 1 and is named, and a
/// volume without replicate is refused.
/// </summary>
public sealed partial class HealAsAClient : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "graft-cli-heal", Guid.NewGuid().ToString("N"));
    public void Dispose()
    {
        _cli.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string On(int i, string path) => Path.Combine(_root, "b" + i, path.TrimStart('/'));

    private string Volfile(string type = "cluster/replicate")
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 2; i++)
        {
            Directory.CreateDirectory(Path.Combine(_root, "b" + i));
            sb.Append($"volume b{i}\n type storage/posix\n option directory {Path.Combine(_root, "b" + i)}\nend-volume\n");
        }
        sb.Append($"volume top\n type {type}\n subvolumes b0 b1\nend-volume\n");
        return _cli.WriteFile(type.Replace('/', '-') + ".vol", sb.ToString());
    }

    private void Blame(int copy, string path, int child, long n)
    {
        var v = new byte[Pending.Width];
        BinaryPrimitives.WriteInt64BigEndian(v, n);
        Assert.Equal(0, lsetxattr(On(copy, path), Pending.NameFor("b" + child), v, (nuint)v.Length, 0));
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [Fact]
    public async Task A_stale_copy_is_healed_counted_and_a_second_look_finds_nothing()
    {
        var vol = Volfile();
        await using (var v = await Volume.OpenVolfileAsync(vol))
        {
            await v.CreateDirectoryAsync("/d");
            await v.WriteAllBytesAsync("/d/f", "right"u8.ToArray());
        }
        File.WriteAllText(On(0, "/d/f"), "stale");
        Blame(1, "/d/f", child: 0, 1);

        var (code, output, err) = CliRunner.Run("heal", "--volfile", vol, "--json");
        Assert.True(code == 0, output + err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("heal: 1 healed, 0 pending, 0 split-brain", lines[^1]);
        using (var last = JsonDocument.Parse(lines[^2]))
        {
            Assert.True(last.RootElement.GetProperty("done").GetBoolean());
            Assert.Equal(1, last.RootElement.GetProperty("healed").GetInt64());
            Assert.Contains(last.RootElement.GetProperty("entries").EnumerateArray(), e => e.GetProperty("path").GetString() == "/d/f");
        }
        Assert.Equal("right", File.ReadAllText(On(0, "/d/f")));

        (code, output, err) = CliRunner.Run("heal", "--volfile", vol, "--info");
        Assert.True(code == 0, output + err);
        Assert.EndsWith("heal: 0 healed, 0 pending, 0 split-brain", output.TrimEnd());
    }

    [Fact]
    public async Task A_split_brain_is_named_and_the_exit_code_says_so()
    {
        var vol = Volfile();
        await using (var v = await Volume.OpenVolfileAsync(vol)) await v.WriteAllBytesAsync("/sb", "x"u8.ToArray());
        Blame(0, "/sb", child: 1, 1);
        Blame(1, "/sb", child: 0, 1);
        var (code, output, _) = CliRunner.Run("heal", "--volfile", vol, "--info");
        Assert.Equal(1, code);
        Assert.Contains("split-brain: /sb", output);
        Assert.EndsWith("heal: 0 healed, 0 pending, 1 split-brain", output.TrimEnd());

        (code, output, _) = CliRunner.Run("heal", "--volfile", vol, "--split-brain-source", "b1", "/sb");
        Assert.Equal(0, code);
        (code, _, _) = CliRunner.Run("heal", "--volfile", vol, "--info");
        Assert.Equal(0, code);
    }

    [Fact]
    public void A_volume_without_replicate_is_refused()
    {
        var (code, _, err) = CliRunner.Run("heal", "--volfile", Volfile("cluster/distribute"));
        Assert.Equal(1, code);
        Assert.Contains("has no cluster/replicate", err);
    }
}
