using Graft.Cli.Commands;

namespace Graft.Cli.Tests;

/// <summary>
/// `graft brick --max-open-fds-per-session / --max-lock-waits-per-session / --max-locks-per-client / --io-threads`
/// become the options of the standard brick graph's protocol/server and features/locks; without
/// them the translators' defaults apply; a count below 1 is a usage error.
/// </summary>
public sealed class BrickLimitFlagsReachTheBrickGraph : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public void Given_limits_are_options_of_the_right_translators_and_the_volfile_checks()
    {
        var text = BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null, 10, limits: new BrickLimits(100, 20, 300, 4));
        var (code, output, err) = CliRunner.Run("volfile", "check", _cli.WriteFile("brick.vol", text));
        Assert.True(code == 0, err);
        var lines = output.ReplaceLineEndings("\n").Split('\n');
        var server = Assert.Single(lines, l => l.Contains("(protocol/server)"));
        Assert.Contains("max-open-fds-per-session=100", server);
        Assert.Contains("max-lock-waits-per-session=20", server);
        Assert.Contains("io-threads=4", server);
        Assert.Contains("max-locks-per-client=300", Assert.Single(lines, l => l.Contains("(features/locks)")));
    }

    [Fact]
    public void Without_them_the_defaults_apply()
    {
        var text = BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null);
        Assert.DoesNotContain("max-", text);
        Assert.DoesNotContain("io-threads", text);
        Assert.DoesNotContain("writeback-chunk", text);
    }

    [Fact]
    public void Writeback_chunk_is_an_option_of_storage_posix_and_a_bad_size_is_refused()
    {
        var text = BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null, 10,
            limits: new BrickLimits(null, null, null) { WritebackChunk = "0" });
        var (code, output, err) = CliRunner.Run("volfile", "check", _cli.WriteFile("brick.vol", text));
        Assert.True(code == 0, err);
        Assert.Contains("writeback-chunk=0", Assert.Single(output.ReplaceLineEndings("\n").Split('\n'), l => l.Contains("(storage/posix)")));

        var bad = BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null, 10,
            limits: new BrickLimits(null, null, null) { WritebackChunk = "lots" });
        var (badCode, badOut, badErr) = CliRunner.Run("volfile", "check", _cli.WriteFile("bad.vol", bad));
        Assert.NotEqual(0, badCode);
        Assert.Contains("writeback-chunk", badOut + badErr);
    }

    [Fact]
    public void Drop_behind_is_an_option_of_storage_posix_and_only_on_or_off_is_taken()
    {
        Assert.DoesNotContain("drop-behind", BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null));
        var text = BrickCommand.StandardBrickVolfile("b", "/srv/b", "127.0.0.1", 0, "*", null, null, 10,
            limits: new BrickLimits(null, null, null) { DropBehind = "off" });
        var (code, output, err) = CliRunner.Run("volfile", "check", _cli.WriteFile("brick.vol", text));
        Assert.True(code == 0, err);
        Assert.Contains("drop-behind=off", Assert.Single(output.ReplaceLineEndings("\n").Split('\n'), l => l.Contains("(storage/posix)")));

        var (badCode, _, badErr) = CliRunner.Run("brick", "--dir", _cli.PathOf(""), "--drop-behind", "sometimes");
        Assert.NotEqual(0, badCode);
        Assert.Contains("sometimes", badErr);
        var (upCode, _, upErr) = CliRunner.Run("up", "--brick-drop-behind", "sometimes");
        Assert.NotEqual(0, upCode);
        Assert.Contains("sometimes", upErr);
    }

    [Theory]
    [InlineData("--max-open-fds-per-session")]
    [InlineData("--max-lock-waits-per-session")]
    [InlineData("--max-locks-per-client")]
    public void A_count_below_one_is_a_usage_error(string flag)
    {
        var (code, _, err) = CliRunner.Run("brick", "--dir", _cli.PathOf(""), flag, "0");
        Assert.NotEqual(0, code);
        Assert.Contains($"{flag} must be at least 1", err);
    }

    [Fact]
    public void Io_threads_past_the_bound_is_a_usage_error()
    {
        var (code, _, err) = CliRunner.Run("brick", "--dir", _cli.PathOf(""), "--io-threads", "-1");
        Assert.NotEqual(0, code);
        Assert.Contains("--io-threads must be between 0 and 1024", err);
    }
}
