using System.Text;
using System.Text.Json;
using Graft.Client;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Cli.Tests;

/// <summary>
/// `graft rebalance` after a brick was added (in-process bricks): --fix-layout gives every directory
/// a layout over all subvolumes (old files stay readable, new names reach the new brick, a rerun
/// writes nothing); a full run moves every misplaced file (a rerun moves none); --remove drains a
/// decommissioned subvolume so a volfile without it serves every file.
/// </summary>
public sealed class RebalanceAsAClient : IDisposable
{
    private readonly CliRunner _cli = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "graft-cli-rebalance", Guid.NewGuid().ToString("N"));
    public void Dispose()
    {
        _cli.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string Volfile(int n, string dhtOptions = "")
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            Directory.CreateDirectory(Path.Combine(_root, "b" + i));
            sb.Append($"volume b{i}\n type storage/posix\n option directory {Path.Combine(_root, "b" + i)}\nend-volume\n");
        }
        sb.Append("volume dht\n type cluster/distribute\n");
        if (dhtOptions.Length > 0) sb.Append(" option ").Append(dhtOptions).Append('\n');
        sb.Append(" subvolumes ").AppendJoin(' ', Enumerable.Range(0, n).Select(i => "b" + i)).Append("\nend-volume\n");
        return _cli.WriteFile($"v{n}{dhtOptions.Length}.vol", sb.ToString());
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

    /// <summary>Two bricks of files in /a, /a/b and /c, then a volfile over three (add-brick).</summary>
    private async Task<(string Three, Dictionary<string, byte[]> Files)> GrownAsync(string threeOptions = "")
    {
        var files = new Dictionary<string, byte[]>();
        await using (var v = await Volume.OpenVolfileAsync(Volfile(2)))
        {
            await v.CreateDirectoryAsync("/a/b");
            await v.CreateDirectoryAsync("/c");
            foreach (var dir in new[] { "/a", "/a/b", "/c" })
                for (int i = 0; i < 20; i++)
                {
                    var data = Encoding.UTF8.GetBytes($"{dir}/f{i} " + new string('x', i * 100));
                    files[$"{dir}/f{i}"] = data;
                    await v.WriteAllBytesAsync($"{dir}/f{i}", data);
                }
        }
        return (Volfile(3, threeOptions), files);
    }

    /// <summary>Every regular file on the bricks is where its directory's layout hashes its name (no data elsewhere, no pointer with data).</summary>
    private void AssertAllInPlace(int bricks, params string[] dirs)
    {
        foreach (var dir in dirs)
        {
            var layout = new Layout([.. Enumerable.Range(0, bricks).Select(i => LayoutEntry.TryParse(Xattr(Path.Combine(_root, "b" + i, dir.TrimStart('/')), Layout.Xattr) ?? [], out var e) ? e : (LayoutEntry?)null)]);
            for (int i = 0; i < bricks; i++)
                foreach (var f in Directory.GetFiles(Path.Combine(_root, "b" + i, dir.TrimStart('/'))))
                {
                    bool pointer = Xattr(f, Linkfile.Xattr) is not null;
                    if (pointer) { Assert.Equal(0, new FileInfo(f).Length); continue; }
                    Assert.True(layout.Search(DhtHash.OfName(Path.GetFileName(f))) == i, $"{f} is not where its name hashes");
                }
        }
    }

    [Fact]
    public async Task A_full_rebalance_moves_every_misplaced_file_and_a_rerun_moves_none()
    {
        var (three, files) = await GrownAsync();
        var (code, output, err) = CliRunner.Run("rebalance", "--volfile", three, "--json");
        Assert.True(code == 0, err + output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var summary = lines[^1];
        Assert.Matches(@"^rebalance: [1-9]\d* moved, 0 skipped, 0 failed$", summary);
        int moved = int.Parse(summary.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var json = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l)).ToList();
        var last = json[^1].RootElement;
        Assert.True(last.GetProperty("done").GetBoolean());
        Assert.Equal(moved, last.GetProperty("moved").GetInt64());
        Assert.Equal(60, last.GetProperty("filesScanned").GetInt64());
        Assert.Equal(60, last.GetProperty("filesTotal").GetInt64());
        Assert.True(last.GetProperty("bytesMoved").GetInt64() > 0);
        Assert.Equal(0, last.GetProperty("skippedFiles").GetArrayLength());
        AssertAllInPlace(3, "/a", "/a/b", "/c");
        await using (var v = await Volume.OpenVolfileAsync(three))
            foreach (var (path, data) in files) Assert.Equal(data, await v.ReadAllBytesAsync(path));

        (code, output, _) = CliRunner.Run("rebalance", "--volfile", three);
        Assert.Equal(0, code);
        Assert.EndsWith("rebalance: 0 moved, 0 skipped, 0 failed", output.TrimEnd());
    }

    [Fact]
    public async Task On_a_terminal_it_draws_a_progress_bar_of_files_moved_bytes_rate_and_eta()
    {
        var (three, _) = await GrownAsync();
        // script(1) gives the process a pseudo-terminal for its output, as a user's shell would.
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        var psi = new System.Diagnostics.ProcessStartInfo("script", ["-qec", $"dotnet '{dll}' rebalance --volfile '{three}'", "/dev/null"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "graft rebalance under script did not finish within 120 s");
        var text = await output;
        Assert.True(p.ExitCode == 0, text);
        // The bar is redrawn in place (carriage return) and ends full, with counts, bytes, rate and ETA.
        Assert.Contains("\r", text);
        Assert.Matches(@"done \[#{24}\] 60/60 files, [1-9]\d* moved \([\d.]+ (B|KiB), [\d.]+ (B|KiB|MiB)/s\), 0 skipped, 0 failed, ETA \d\d:\d\d:\d\d", text);
        Assert.DoesNotContain("{\"elapsed\"", text);
        Assert.Matches(@"rebalance: [1-9]\d* moved, 0 skipped, 0 failed\s*$", text);
    }

    [Fact]
    public async Task Remove_needs_the_subvolume_decommissioned_then_drains_it_for_a_volfile_without_it()
    {
        var (three, files) = await GrownAsync();
        var (code, _, err) = CliRunner.Run("rebalance", "--volfile", three, "--remove", "b1");
        Assert.Equal(2, code);
        Assert.Contains("option decommissioned", err);
        (code, _, err) = CliRunner.Run("rebalance", "--volfile", three, "--remove", "b9");
        Assert.Equal(2, code);
        Assert.Contains("not a subvolume", err);

        var draining = Volfile(3, "decommissioned b1");
        (code, var output, err) = CliRunner.Run("rebalance", "--volfile", draining, "--remove", "b1");
        Assert.True(code == 0, err + output);
        Assert.Contains("drained: b1", output);
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(_root, "b1"), "*", SearchOption.AllDirectories),
            f => !f.Contains("/.graft/", StringComparison.Ordinal) && Xattr(f, Linkfile.Xattr) is null);
        // A volfile without b1 serves every file.
        var sb = new StringBuilder();
        foreach (var i in new[] { 0, 2 }) sb.Append($"volume b{i}\n type storage/posix\n option directory {Path.Combine(_root, "b" + i)}\nend-volume\n");
        sb.Append("volume dht\n type cluster/distribute\n subvolumes b0 b2\nend-volume\n");
        await using var without = await Volume.OpenVolfileTextAsync(sb.ToString());
        foreach (var (path, data) in files) Assert.Equal(data, await without.ReadAllBytesAsync(path));
        foreach (var dir in new[] { "/a", "/a/b", "/c" })
            Assert.Equal(20, (await without.ListDirectoryAsync(dir)).Count(e => e.Type != Graft.Core.PosixMode.S_IFDIR));
    }

    [Fact]
    public async Task A_file_that_cannot_leave_a_subvolume_being_removed_fails_the_drain_and_the_exit_status()
    {
        var (_, files) = await GrownAsync();
        // A file on b1 with a second name: moving one name would split it, so it cannot be drained. Its two
        // names fail once each, though a drain walks twice.
        var held = files.Keys.First(f => File.Exists(Path.Combine(_root, "b1", f.TrimStart('/'))) && Xattr(Path.Combine(_root, "b1", f.TrimStart('/')), Linkfile.Xattr) is null);
        await using (var v = await Volume.OpenVolfileAsync(Volfile(3)))
            await v.LinkAsync(held, held + "-link");

        var (code, output, err) = CliRunner.Run("rebalance", "--volfile", Volfile(3, "decommissioned b1"), "--remove", "b1", "--json", "--busy-wait", "1");
        Assert.True(code == 1, $"exit {code}\n{output}\n{err}");
        Assert.Contains($"{held}: hard links: cannot leave a subvolume being removed", err);
        Assert.Contains("not drained: b1 still holds files (above); do not remove it yet", output);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(output.TrimEnd(), @"rebalance: [1-9]\d* moved, 0 skipped, 2 failed$"), output + err);
        using var last = JsonDocument.Parse(output.Split('\n').Last(l => l.StartsWith('{')));
        Assert.Contains(last.RootElement.GetProperty("failedFiles").EnumerateArray(), f => f.GetProperty("path").GetString() == held);
        // Everything else did leave b1.
        Assert.All(Directory.GetFiles(Path.Combine(_root, "b1"), "*", SearchOption.AllDirectories)
                       .Where(f => !f.Contains("/.graft/", StringComparison.Ordinal) && Xattr(f, Linkfile.Xattr) is null),
                   f => Assert.StartsWith(Path.Combine(_root, "b1", held.TrimStart('/')), f));
    }

    private static byte[]? Xattr(string path, string name)
    {
        var buf = new byte[256];
        var n = Native.lgetxattr(path, name, buf, (nuint)buf.Length);
        return n < 0 ? null : buf[..(int)n];
    }
}

internal static partial class Native
{
    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    internal static partial nint lgetxattr(string path, string name, byte[] value, nuint size);
}
