using Graft.Core;

namespace Graft.Core.Tests.Volfiles;

/// <summary>Every kind of bad volfile gives one error naming the file, the line and the volume.</summary>
public class BadVolfilesAreRejectedAtTheirLine
{
    private static VolfileException Check(string text)
    {
        var e = Assert.Throws<VolfileException>(() =>
            GraphBuilder.Build(VolfileModel.Parse(text, "bad.vol"), TestXlators.Registry(), 1));
        Assert.Equal("bad.vol", e.File);
        return e;
    }

    private static void AssertError(VolfileException e, int line, string? volume, string fragment)
    {
        Assert.Equal(line, e.Line);
        Assert.Equal(volume, e.Volume);
        Assert.Contains(fragment, e.Problem);
        var prefix = volume is null ? $"bad.vol:{line}: " : $"bad.vol:{line}: volume '{volume}': ";
        Assert.Equal(prefix + e.Problem, e.Message);
    }

    public static TheoryData<string, int, string?, string> SyntaxErrors => new()
    {
        { "type test/leaf\n", 1, null, "'type' outside a volume" },
        { "# c\noption directory /x\n", 2, null, "'option' outside a volume" },
        { "volume a\n type test/leaf\n option directory /x\nend-volume\nsubvolumes a\n", 5, null, "'subvolumes' outside a volume" },
        { "end-volume\n", 1, null, "'end-volume' without a matching 'volume'" },
        { "bogus\n", 1, null, "unknown statement 'bogus'" },
        { "volume\n", 1, null, "'volume' needs a name" },
        { "volume a b\n", 1, null, "'volume' takes one name, got 'a b'" },
        { "volume a\n type test/leaf\n option directory /x\n", 1, "a", "missing 'end-volume'" },
        { "volume a\n type test/leaf\nvolume b\n", 3, "a", "missing 'end-volume' before 'volume b'" },
        { "volume a\n type test/leaf\n option directory /x\nend-volume\n\nvolume a\n type test/leaf\nend-volume\n", 6, "a", "defined twice (first on line 1)" },
        { "volume a\n type\nend-volume\n", 2, "a", "'type' needs a translator type" },
        { "volume a\n type x y\nend-volume\n", 2, "a", "'type' takes one translator type" },
        { "volume a\n type test/leaf\n type test/leaf\nend-volume\n", 3, "a", "'type' given twice (first on line 2)" },
        { "volume a\n option directory /x\nend-volume\n", 1, "a", "has no 'type'" },
        { "volume a\n type test/leaf\n option\nend-volume\n", 3, "a", "'option' needs a key and a value" },
        { "volume a\n type test/leaf\n option directory\nend-volume\n", 3, "a", "option 'directory' has no value" },
        { "volume a\n type test/leaf\n option directory /x\n option directory /y\nend-volume\n", 4, "a", "option 'directory' given twice (first on line 3)" },
        { "volume a\n type test/cache\n subvolumes\nend-volume\n", 3, "a", "'subvolumes' needs at least one volume name" },
        { "volume a\n type test/cluster\n subvolumes b c\n subvolumes d\nend-volume\n", 4, "a", "'subvolumes' given twice (first on line 3)" },
        { "volume a\n type test/cluster\n subvolumes b c b\nend-volume\n", 3, "a", "subvolume 'b' is named twice" },
        { "volume a\n type test/leaf\n wibble 3\nend-volume\n", 3, "a", "unknown statement 'wibble'" },
        { "volume a\n type test/leaf\nend-volume now\n", 3, "a", "'end-volume' takes nothing after it" },
        { "# only a comment\n\n", 1, null, "no volumes defined" },
    };

    [Theory, MemberData(nameof(SyntaxErrors))]
    public void Syntax_errors(string text, int line, string? volume, string fragment)
        => AssertError(Check(text), line, volume, fragment);

    private const string Leaf = "volume store\n type test/leaf\n option directory /x\nend-volume\n";

    public static TheoryData<string, int, string?, string> MeaningErrors => new()
    {
        // line 5 onwards is the second volume; "store" takes lines 1-4
        { Leaf + "volume top\n type nope/xlator\n subvolumes store\nend-volume\n", 6, "top", "unknown type 'nope/xlator' (known types: debug/passthrough," },
        { Leaf + "volume top\n type test/cache\n option colour blue\n subvolumes store\nend-volume\n", 7, "top", "unknown option 'colour' for test/cache (known options: cache-size," },
        { Leaf + "volume top\n type debug/passthrough\n option x 1\n subvolumes store\nend-volume\n", 7, "top", "debug/passthrough takes no options" },
        { Leaf + "volume top\n type test/cache\n option count 17\n subvolumes store\nend-volume\n", 7, "top", "option 'count': 17 is out of range [1, 16]" },
        { Leaf + "volume top\n type test/cache\n option cache-size lots\n subvolumes store\nend-volume\n", 7, "top", "option 'cache-size': 'lots' is not a valid size" },
        { Leaf + "volume top\n type test/cache\n option mode slow\n subvolumes store\nend-volume\n", 7, "top", "option 'mode': 'slow' is not one of fast, safe" },
        { Leaf + "volume top\n type test/cache\n option flush-behind maybe\n subvolumes store\nend-volume\n", 7, "top", "'maybe' is not a boolean" },
        { Leaf + "volume top\n type test/cache\n option timeout soon\n subvolumes store\nend-volume\n", 7, "top", "option 'timeout': 'soon' is not a valid time" },
        { Leaf + "volume top\n type test/cache\n option timeout 5\n option cache-timeout 6\n subvolumes store\nend-volume\n", 8, "top", "option 'cache-timeout' sets 'timeout' again (already set as 'timeout' on line 7)" },
        { "volume store\n type test/leaf\nend-volume\n", 1, "store", "missing required option 'directory'" },
        { Leaf + "volume top\n type test/cache\n subvolumes ghost\nend-volume\n", 7, "top", "subvolume 'ghost' is not defined" },
        { Leaf + "volume top\n type test/cache\n subvolumes top\nend-volume\n", 7, "top", "names itself as a subvolume" },
        { Leaf + "volume top\n type test/cache\nend-volume\n", 5, "top", "test/cache takes exactly 1 subvolume, got 0" },
        { Leaf + "volume leaf2\n type test/leaf\n option directory /y\n subvolumes store\nend-volume\nvolume top\n type test/cluster\n subvolumes store leaf2\nend-volume\n", 8, "leaf2", "test/leaf takes no subvolumes, got 1" },
        { Leaf + "volume top\n type test/cluster\n subvolumes store\nend-volume\n", 7, "top", "test/cluster takes at least 2 subvolumes, got 1" },
        { Leaf + "volume l2\n type test/leaf\n option directory /2\nend-volume\nvolume l3\n type test/leaf\n option directory /3\nend-volume\nvolume top\n type test/pair\n subvolumes store l2 l3\nend-volume\n", 15, "top", "test/pair takes 1 to 2 subvolumes, got 3" },
        // a -> b -> a, closed on b's subvolumes line
        { Leaf + "volume a\n type test/cache\n subvolumes b\nend-volume\nvolume b\n type test/cache\n subvolumes a\nend-volume\nvolume top\n type test/cluster\n subvolumes store a\nend-volume\n", 11, "b", "subvolumes form a cycle: a -> b -> a" },
        // the last volume is the top, so nobody may name it
        { Leaf + "volume mid\n type test/cache\n subvolumes top\nend-volume\nvolume top\n type test/cache\n subvolumes store\nend-volume\n", 7, "mid", "names 'top' as a subvolume, but 'top' is the last volume in the file" },
        { Leaf + "volume spare\n type test/leaf\n option directory /y\nend-volume\nvolume top\n type test/cache\n subvolumes store\nend-volume\n", 5, "spare", "is not used by any other volume (only the last volume, 'top'" },
    };

    [Theory, MemberData(nameof(MeaningErrors))]
    public void Meaning_errors(string text, int line, string? volume, string fragment)
        => AssertError(Check(text), line, volume, fragment);

    [Fact]
    public void Validation_alone_reports_the_same_error_as_building()
    {
        var m = VolfileModel.Parse("volume store\n type test/leaf\nend-volume\n", "bad.vol");
        var e = Assert.Throws<VolfileException>(() => m.Validate(TestXlators.Registry()));
        Assert.Equal("bad.vol:1: volume 'store': missing required option 'directory' (test/leaf: where the leaf keeps its data)", e.Message);
    }
}
