namespace Graft.Cli.Tests;

/// <summary>`graft volfile check FILE`: a good file prints its graph; a bad one prints where it is wrong.</summary>
public sealed class VolfileCheckPrintsTheGraphOrTheError : IDisposable
{
    private readonly CliRunner _cli = new();
    public void Dispose() => _cli.Dispose();

    private const string Good = """
        # two bricks under a cluster, write-behind on top
        volume b1
            type test/store
            option directory /srv/b1
        end-volume
        volume b2
            type test/store
            option directory /srv/b2
            option readonly on
        end-volume
        volume dist
            type test/cluster
            subvolumes b1 b2
        end-volume
        volume wb
            type performance/write-behind
            option cache-size 4MB
            option aggregate-size 64KB
            subvolumes dist
        end-volume
        """;

    [Fact]
    public void A_good_file_prints_the_tree_top_first_and_exits_0()
    {
        var path = _cli.WriteFile("good.vol", Good);

        var (code, output, err) = CliRunner.Run(TestTypes.Registry, "volfile", "check", path);

        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal($"""
            {path}: OK, 4 translators, top 'wb'
            wb (performance/write-behind) aggregate-size=64KB cache-size=4MB
            └── dist (test/cluster)
                ├── b1 (test/store) directory=/srv/b1
                └── b2 (test/store) directory=/srv/b2 readonly=on

            """.ReplaceLineEndings("\n"), output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_broken_file_prints_file_line_and_volume_on_stderr_and_exits_1()
    {
        var path = _cli.WriteFile("broken.vol", Good.Replace("option cache-size 4MB", "option cache-size 2GB"));

        var (code, output, err) = CliRunner.Run(TestTypes.Registry, "volfile", "check", path);

        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal($"{path}:17: volume 'wb': option 'cache-size': 2GB is out of range [4KB, 1GB]\n", err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_brick_volfile_checks_against_the_builtin_types()
    {
        var path = _cli.WriteFile("brick.vol", """
            volume brick
                type storage/posix
                option directory /srv/graft/brick1
            end-volume
            volume top
                type debug/passthrough
                subvolumes brick
            end-volume
            """);

        var (code, output, err) = CliRunner.Run("volfile", "check", path);

        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal($"{path}: OK, 2 translators, top 'top'\ntop (debug/passthrough)\n└── brick (storage/posix) directory=/srv/graft/brick1\n",
                     output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_brick_without_its_directory_is_rejected_at_the_volume_line()
    {
        var path = _cli.WriteFile("nodir.vol", "volume top\n    type debug/passthrough\n    subvolumes brick\nend-volume\n".Insert(0,
            "# no directory\nvolume brick\n    type storage/posix\nend-volume\n"));

        var (code, _, err) = CliRunner.Run("volfile", "check", path);

        Assert.Equal(1, code);
        Assert.StartsWith($"{path}:2: volume 'brick': missing required option 'directory'", err);
    }

    [Fact]
    public void The_builtin_types_reject_a_cycle_with_its_line()
    {
        var path = _cli.WriteFile("cycle.vol", """
            volume a
                type debug/passthrough
                subvolumes b
            end-volume
            volume b
                type debug/passthrough
                subvolumes a
            end-volume
            """);

        var (code, _, err) = CliRunner.Run("volfile", "check", path);

        Assert.Equal(1, code);
        Assert.Equal($"{path}:7: volume 'b': subvolumes form a cycle: a -> b -> a", err.Trim());
    }

    [Fact]
    public void A_syntax_error_is_reported_at_its_line()
    {
        var path = _cli.WriteFile("syntax.vol", "volume a\n    type debug/passthrough\n\nvolume b\n");

        var (code, _, err) = CliRunner.Run("volfile", "check", path);

        Assert.Equal(1, code);
        Assert.StartsWith($"{path}:4: volume 'a': missing 'end-volume' before 'volume b'", err);
    }

    [Fact]
    public void A_missing_file_is_an_error()
    {
        var path = _cli.PathOf("nope.vol");
        var (code, output, err) = CliRunner.Run("volfile", "check", path);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith($"{path}: cannot read:", err);
    }
}
