using Graft.Mount;

namespace Graft.Client.Tests;

/// <summary>
/// The library sets a session's options through the same <see cref="MountOptions"/> a FUSE mount parses from -o:
/// by name (<see cref="MountOptions.Parse"/>) or by property, with VolumeOptions' bounds as shorthands for it.
/// </summary>
public class VolumeOptionsAreMountOptions
{
    [Fact]
    public async Task A_volume_session_gets_the_options_given_by_mount_option_name()
    {
        var options = new VolumeOptions
        {
            Mount = MountOptions.Parse("sweep_delay=7,sweep_rate=11,retirement_timeout=13,lock_wait_reconnect_timeout=17,lock_retry_delay=0.019"),
            DrainTimeout = TimeSpan.FromSeconds(3),
        };
        await using var t = await TestVolume.CreateAsync(options);
        var o = t.Volume.Session.Options;
        Assert.Equal(TimeSpan.FromSeconds(7), o.SweepDelay);
        Assert.Equal(11, o.SweepRate);
        Assert.Equal(TimeSpan.FromSeconds(13), o.RetirementTimeout);
        Assert.Equal(TimeSpan.FromSeconds(17), o.LockWaitReconnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(19), o.LockRetryDelay);
        Assert.Equal(TimeSpan.FromSeconds(3), o.DrainTimeout);   // the shorthand wrote into Mount
        Assert.Equal(TimeSpan.FromSeconds(13), options.RetirementTimeout);   // and reads from it
    }

    [Theory]
    [InlineData("sweep_dealy=1", "unknown mount option 'sweep_dealy'")]
    [InlineData("sweep_delay", "needs a value")]
    [InlineData("retirement_timeout=0", "retirement_timeout=0: give seconds between 1 and 86400")]
    [InlineData("inode_lru_limit=many", "inode_lru_limit=many: give a whole number")]
    public void A_wrong_option_is_refused_by_name(string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => MountOptions.Parse(text));
        Assert.Contains(message, e.Message);
    }
}
