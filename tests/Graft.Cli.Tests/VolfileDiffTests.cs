namespace Graft.Cli.Tests;

/// <summary>`graft volfile diff OLD NEW`: identical, reconfigure in place, or new graph with the reason.</summary>
public sealed class VolfileDiffSaysWhatAChangeTakes : IDisposable
{
    private readonly CliRunner _cli = new();
    public void Dispose() => _cli.Dispose();

    private const string Old = """
        volume brick
            type test/store
            option directory /srv/b1
        end-volume
        volume wb
            type performance/write-behind
            option cache-size 4MB
            subvolumes brick
        end-volume
        """;

    private (int, string, string) Diff(string newText)
        => CliRunner.Run(TestTypes.Registry, "volfile", "diff", _cli.WriteFile("old.vol", Old), _cli.WriteFile("new.vol", newText));

    [Fact]
    public void The_same_graph_written_differently_is_identical()
    {
        var (code, output, _) = Diff(Old.Replace("4MB", "4096KB").Replace("    ", "\t"));
        Assert.Equal(0, code);
        Assert.Equal("identical: nothing to do", output.Trim());
    }

    [Fact]
    public void Runtime_options_are_a_reconfigure_listing_each_change()
    {
        var (code, output, _) = Diff(Old.Replace("option cache-size 4MB", "option cache-size 8MB\n    option enable off"));
        Assert.Equal(0, code);
        Assert.Equal("reconfigure in place: 2 options changed\n  wb.cache-size: 4MB -> 8MB\n  wb.enable: on -> off",
                     output.ReplaceLineEndings("\n").Trim());
    }

    [Fact]
    public void A_fixed_option_needs_a_new_graph_and_says_why()
    {
        var (code, output, _) = Diff(Old.Replace("/srv/b1", "/srv/b2"));
        Assert.Equal(0, code);
        Assert.Equal("new graph: option 'directory' of 'brick' cannot change at run time", output.Trim());
    }

    [Fact]
    public void An_invalid_new_file_is_an_error_with_its_line()
    {
        var (code, output, err) = Diff(Old.Replace("option cache-size 4MB", "option cache-size 4XB"));
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("new.vol:7: volume 'wb': option 'cache-size': '4XB' is not a valid size", err);
    }
}
