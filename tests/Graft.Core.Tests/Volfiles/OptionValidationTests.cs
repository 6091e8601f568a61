using Graft.Core;

namespace Graft.Core.Tests.Volfiles;

/// <summary>Option values are checked by type and range, normalised, and defaulted.</summary>
public class OptionValuesAreValidated
{
    private static OptionSpec Spec(OptionKind kind, string? def = null, long min = long.MinValue, long max = long.MaxValue, string[]? choices = null)
        => new("x", kind, def, "test") { Min = min, Max = max, Choices = choices };

    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("1MB", 1L << 20)]
    [InlineData("1mb", 1L << 20)]
    [InlineData("64KB", 64L << 10)]
    [InlineData("2GB", 2L << 30)]
    [InlineData("3 M", 3L << 20)]
    [InlineData("128k", 128L << 10)]
    [InlineData("1TB", 1L << 40)]
    [InlineData("10B", 10L)]
    public void Sizes_accept_binary_suffixes(string text, long bytes)
        => Assert.Equal(bytes, Spec(OptionKind.Size).Parse(text, out _));

    [Theory]
    [InlineData("-1")]
    [InlineData("lots")]
    [InlineData("1XB")]
    [InlineData("99999999999TB")]
    public void Bad_sizes_are_rejected(string text)
    {
        Assert.Null(Spec(OptionKind.Size).Parse(text, out var err));
        Assert.Contains("is not a valid size", err);
    }

    [Theory]
    [InlineData("42", 42_000L)]
    [InlineData("1.5", 1_500L)]
    [InlineData("250ms", 250L)]
    [InlineData("3s", 3_000L)]
    [InlineData("2m", 120_000L)]
    public void Times_are_seconds_unless_suffixed(string text, long ms)
        => Assert.Equal(ms, Spec(OptionKind.Time).Parse(text, out _));

    [Theory]
    [InlineData("on", true)] [InlineData("yes", true)] [InlineData("TRUE", true)] [InlineData("enable", true)] [InlineData("1", true)]
    [InlineData("off", false)] [InlineData("no", false)] [InlineData("False", false)] [InlineData("disable", false)] [InlineData("0", false)]
    public void Booleans_take_the_glusterfs_spellings(string text, bool value)
        => Assert.Equal(value, Spec(OptionKind.Bool).Parse(text, out _));

    [Fact]
    public void Enums_match_case_insensitively_and_normalise()
    {
        var s = Spec(OptionKind.Enum, choices: ["fast", "safe"]);
        Assert.Equal("safe", s.Parse("SAFE", out _));
        Assert.Null(s.Parse("slow", out var err));
        Assert.Equal("'slow' is not one of fast, safe", err);
    }

    [Fact]
    public void Ranges_are_inclusive_and_reported()
    {
        var s = Spec(OptionKind.Int, min: 1, max: 16);
        Assert.Equal(1L, s.Parse("1", out _));
        Assert.Equal(16L, s.Parse("16", out _));
        Assert.Null(s.Parse("0", out var err));
        Assert.Equal("0 is out of range [1, 16]", err);
        Assert.Null(Spec(OptionKind.Size, min: 4096).Parse("1KB", out err));
        Assert.Equal("1KB is out of range [4KB, inf]", err);
    }

    [Fact]
    public void Percent_accepts_a_percent_sign()
    {
        var s = Spec(OptionKind.Percent, min: 0, max: 100);
        Assert.Equal(80L, s.Parse("80%", out _));
        Assert.Null(s.Parse("120%", out _));
    }

    [Fact]
    public void Paths_must_not_be_empty()
    {
        Assert.Null(Spec(OptionKind.Path).Parse("", out var err));
        Assert.Equal("must be a path", err);
    }

    private static Translator Build(string cacheOptions)
    {
        var text = $"volume store\n type test/leaf\n option directory /x\nend-volume\nvolume c\n type test/cache\n{cacheOptions}\n subvolumes store\nend-volume\n";
        return GraphBuilder.Build(text, "o.vol", TestXlators.Registry(), 1).Top;
    }

    [Fact]
    public void Defaults_fill_in_what_the_volfile_leaves_out()
    {
        var o = Build("").Options;
        Assert.Equal(1L << 20, o.GetLong("cache-size"));
        Assert.Equal(TimeSpan.FromSeconds(42), o.GetTime("timeout"));
        Assert.Equal(4, o.GetInt("count"));
        Assert.Equal("fast", o.GetString("mode"));
        Assert.True(o.GetBool("flush-behind"));
        Assert.Null(o.GetStringOrNull("label"));
        Assert.False(o.Has("label"));
        Assert.Empty(o.Raw);
    }

    [Fact]
    public void Given_values_are_parsed_by_kind()
    {
        var o = Build(" option cache-size 16MB\n option timeout 500ms\n option count 8\n option mode SAFE\n option flush-behind no\n option fill 75%\n option label big cache").Options;
        Assert.Equal(16L << 20, o.GetLong("cache-size"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), o.GetTime("timeout"));
        Assert.Equal(8, o.GetInt("count"));
        Assert.Equal("safe", o.GetString("mode"));
        Assert.False(o.GetBool("flush-behind"));
        Assert.Equal(75L, o.GetLong("fill"));
        Assert.Equal("big cache", o.GetString("label"));
        Assert.Equal("16MB", o.Raw["cache-size"]);
    }

    [Fact]
    public void An_alias_sets_the_option_it_stands_for()
    {
        var o = Build(" option cache-timeout 7").Options;
        Assert.Equal(TimeSpan.FromSeconds(7), o.GetTime("timeout"));
        Assert.Equal("7", o.Raw["cache-timeout"]);
    }
}
