using System.Threading.Channels;
using Graft.Mount.Switching;

namespace Graft.Mount.Tests.Switching;

public sealed class VolfileWatcherTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "graft-tests-" + Environment.ProcessId, "watch-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _file;
    private readonly Channel<string> _seen = Channel.CreateUnbounded<string>();

    public VolfileWatcherTests()
    {
        Directory.CreateDirectory(_dir);
        _file = Path.Combine(_dir, "client.vol");
        File.WriteAllText(_file, "v1");
    }

    private VolfileWatcher Watch() => new(_file, "v1", text => { _seen.Writer.TryWrite(text); return Task.CompletedTask; });

    private async Task<string> Next() => await _seen.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    [Fact]
    public async Task A_write_in_place_is_noticed()
    {
        using var w = Watch();
        await File.WriteAllTextAsync(_file, "v2");
        while (await Next() != "v2") { }
    }

    [Fact]
    public async Task A_replace_by_rename_is_noticed_and_so_is_the_next_one()
    {
        using var w = Watch();
        var tmp = Path.Combine(_dir, ".client.vol.tmp");
        await File.WriteAllTextAsync(tmp, "v2");
        File.Move(tmp, _file, overwrite: true);
        Assert.Equal("v2", await Next());
        await File.WriteAllTextAsync(tmp, "v3");
        File.Move(tmp, _file, overwrite: true);
        Assert.Equal("v3", await Next());
    }

    [Fact]
    public async Task A_poke_with_unchanged_content_reports_nothing_and_a_burst_reports_the_final_content()
    {
        using var w = Watch();
        w.Poke(); // same bytes as applied: nothing
        for (int i = 2; i <= 6; i++) await File.WriteAllTextAsync(_file, "v" + i);
        var first = await Next();
        // The burst may be seen in pieces, but the last report is the final content and nothing repeats.
        var all = new List<string> { first };
        while (all[^1] != "v6") all.Add(await Next());
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.DoesNotContain("v1", all);
    }

    [Fact]
    public async Task A_poke_rereads_the_file()
    {
        using var w = Watch();
        w.Poke();
        await File.WriteAllTextAsync(_file, "v9");
        w.Poke();
        // A write in place can be caught half done; what counts is that the final content comes.
        while (await Next() != "v9") { }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
