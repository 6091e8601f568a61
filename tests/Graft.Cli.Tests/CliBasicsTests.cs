namespace Graft.Cli.Tests;

/// <summary>The CLI tells its version and explains every verb.</summary>
public class CliExplainsItself
{
    [Fact]
    public void Version_prints_the_version_and_exits_0()
    {
        var (code, output, err) = CliRunner.Run("--version");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.StartsWith("0.1.0", output);
    }

    [Theory]
    [InlineData(new[] { "--help" }, "volfile")]
    [InlineData(new[] { "volfile", "--help" }, "check")]
    [InlineData(new[] { "volfile", "check", "--help" }, "<FILE>")]
    [InlineData(new[] { "volfile", "types", "--help" }, "run time")]
    [InlineData(new[] { "brick", "--help" }, "--lock-grace")]
    public void Help_describes_each_verb(string[] args, string mentions)
    {
        var (code, output, _) = CliRunner.Run(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.Contains(mentions, output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Brick_help_explains_who_is_trusted_and_lists_the_security_options()
    {
        var (code, output, _) = CliRunner.Run("brick", "--help");
        Assert.Equal(0, code);
        foreach (var text in new[] { "trusted", "root squash", "65534", "docs/security.md", "--secret-file", "--no-root-squash", "--insecure",
                                     "--tls-cert", "--tls-key", "--tls-ca", "--max-connections", "--max-connections-per-address" })
            Assert.Contains(text, output);
    }

    [Fact]
    public void A_missing_argument_is_a_usage_error()
    {
        var (code, _, err) = CliRunner.Run("volfile", "check");
        Assert.NotEqual(0, code);
        Assert.Contains("Required argument missing", err);
    }
}

/// <summary>`graft volfile types`: every registered type with its options.</summary>
public class VolfileTypesListsEveryType
{
    [Fact]
    public void Every_type_is_listed_with_its_options()
    {
        var (code, output, _) = CliRunner.Run(TestTypes.Registry, "volfile", "types");
        Assert.Equal(0, code);
        foreach (var spec in TestTypes.Registry().All)
        {
            Assert.Contains($"{spec.Type}: {spec.Description}", output);
            foreach (var o in spec.Options) Assert.Contains($"    {o.Name} ", output);
        }
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("    directory ") && l.Contains("(required)") && l.Contains(" no ") && l.Contains("where the data lives"));
        Assert.Contains(lines, l => l.StartsWith("    cache-size ") && l.Contains("4MB") && l.Contains("4KB..1GB") && l.Contains(" yes ") && l.Contains("(also: window-size)"));
        Assert.Contains("test/store: a leaf for tests\n  subvolumes: none (a leaf)", output.ReplaceLineEndings("\n"));
        Assert.Contains("  subvolumes: at least 2", output);
    }

    [Fact]
    public void One_type_can_be_asked_for()
    {
        var (code, output, _) = CliRunner.Run(TestTypes.Registry, "volfile", "types", "test/store");
        Assert.Equal(0, code);
        Assert.StartsWith("test/store:", output);
        Assert.DoesNotContain("debug/passthrough", output);
    }

    [Fact]
    public void An_unknown_type_is_an_error()
    {
        var (code, output, err) = CliRunner.Run("volfile", "types", "nope/x");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("unknown translator type 'nope/x'", err);
    }
}
