namespace Graft.Cli.Tests;

/// <summary>`graft volfile check` on distribute graphs: the example checks; a subvolume named twice or none at all is refused at its line.</summary>
public sealed class DistributeVolfilesAreChecked : IDisposable
{
    private readonly CliRunner _cli = new();
    public void Dispose() => _cli.Dispose();

    [Fact]
    public void The_example_checks_and_prints_its_three_subvolumes()
    {
        var path = Path.Combine(FindRoot(), "docs", "examples", "distribute.vol");
        var (code, output, err) = CliRunner.Run("volfile", "check", path);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("dht (cluster/distribute)", output);
        Assert.Contains("└── b2 (protocol/client)", output);
    }

    [Fact]
    public void The_dht_alias_and_its_options_are_known()
    {
        var path = _cli.WriteFile("alias.vol", "volume s\n type storage/posix\n option directory /srv/a\nend-volume\n" +
            "volume d\n type cluster/dht\n option lookup-unhashed off\n subvolumes s\nend-volume\n");
        var (code, output, _) = CliRunner.Run("volfile", "check", path);
        Assert.Equal(0, code);
        Assert.Contains("d (cluster/dht) lookup-unhashed=off", output);
    }

    [Fact]
    public void A_subvolume_named_twice_and_a_distribute_without_subvolumes_are_refused()
    {
        var twice = _cli.WriteFile("twice.vol", "volume s\n type storage/posix\n option directory /srv/a\nend-volume\n" +
            "volume d\n type cluster/distribute\n subvolumes s s\nend-volume\n");
        var (code, _, err) = CliRunner.Run("volfile", "check", twice);
        Assert.Equal(1, code);
        Assert.StartsWith($"{twice}:7: volume 'd': subvolume 's' is named twice", err);

        var none = _cli.WriteFile("none.vol", "volume d\n type cluster/distribute\nend-volume\n");
        (code, _, err) = CliRunner.Run("volfile", "check", none);
        Assert.Equal(1, code);
        Assert.Contains("at least 1 subvolume", err);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Graft.slnx"))) return d.FullName;
        throw new InvalidOperationException("no clone above " + AppContext.BaseDirectory);
    }
}
