using Graft.Fuse.Bridge;

namespace Graft.Fuse.Tests;

/// <summary>`-o` options as FUSE users write them, with the defaults of a system-wide network filesystem.</summary>
public class MountOptionParserTests
{
    [Fact]
    public void Defaults_let_every_user_in_and_check_permissions_for_each()
    {
        Assert.True(MountOptionParser.TryParse(null, out var s, out _));
        Assert.True(s.Fuse.AllowOther);
        Assert.True(s.Fuse.DefaultPermissions);
        Assert.False(s.Fuse.ReadOnly);
        // Not given: 1 s, or 30 s while every brick sends invalidation notices (the bridge decides per reply).
        Assert.Null(s.Bridge.EntryTimeout);
        Assert.Null(s.Bridge.AttrTimeout);
        Assert.Null(s.Bridge.NegativeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), FuseBridgeOptions.DefaultTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), s.Bridge.NotifiedTimeout);
        Assert.Equal(MountOptionParser.DefaultReadAheadKb, s.Fuse.ReadAheadKb);
        Assert.InRange(s.Fuse.Readers, 2, 8);
        Assert.Equal(new Graft.Mount.MountOptions(), s.Session);   // the session's own defaults
    }

    [Fact]
    public void Every_option_is_understood()
    {
        Assert.True(MountOptionParser.TryParse(
            "entry_timeout=0.5,attr_timeout=2,negative_timeout=0,notified_timeout=10,noallow_other,nodefault_permissions,ro,readers=3,read_ahead_kb=4096,debug," +
            "sweep_delay=600,retirement_timeout=90,sweep_rate=50,drain_timeout=3,inode_lru_limit=100,lock_wait_reconnect_timeout=5,lock_retry_delay=0.05," +
            "metrics=127.0.0.1:9464",
            out var s, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.Bridge.EntryTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Bridge.AttrTimeout);
        Assert.Equal(TimeSpan.Zero, s.Bridge.NegativeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), s.Bridge.NotifiedTimeout);
        Assert.False(s.Fuse.AllowOther);
        Assert.False(s.Fuse.DefaultPermissions);
        Assert.True(s.Fuse.ReadOnly);
        Assert.Equal(3, s.Fuse.Readers);
        Assert.Equal(4096, s.Fuse.ReadAheadKb);
        Assert.True(s.Fuse.Debug);
        Assert.Equal(TimeSpan.FromSeconds(600), s.Session.SweepDelay);
        Assert.Equal(TimeSpan.FromSeconds(90), s.Session.RetirementTimeout);
        Assert.Equal(50, s.Session.SweepRate);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Session.DrainTimeout);
        Assert.Equal(100, s.Session.InodeLruLimit);
        Assert.Equal(TimeSpan.FromSeconds(5), s.Session.LockWaitReconnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(50), s.Session.LockRetryDelay);
        Assert.Equal(new Graft.Core.Diagnostics.MetricsAddress("127.0.0.1", 9464), s.Metrics);
        Assert.True(MountOptionParser.TryParse("allow_other,default_permissions,rw", out s, out _));
        Assert.True(s.Fuse.AllowOther && s.Fuse.DefaultPermissions && !s.Fuse.ReadOnly);
    }

    [Theory]
    [InlineData("bogus", "unknown mount option 'bogus'")]
    [InlineData("uid=5", "unknown mount option 'uid'")]
    [InlineData("entry_timeout", "needs a value")]
    [InlineData("ro=1", "takes no value")]
    [InlineData("attr_timeout=-1", "give seconds")]
    [InlineData("attr_timeout=soon", "give seconds")]
    [InlineData("readers=0", "whole number between 1 and 64")]
    [InlineData("read_ahead_kb=1.5", "whole number")]
    [InlineData("retirement_timeout=0.5", "give seconds between 1 and 86400")]
    [InlineData("lock_retry_delay=0", "give seconds between 0.001 and 86400")]
    [InlineData("sweep_rate=0", "whole number between 1 and")]
    [InlineData("lock_wait_reconnect_timeout", "needs a value")]
    [InlineData("metrics=9464", "give ADDR:PORT")]
    [InlineData("metrics=example.com:9464", "give ADDR:PORT")]
    [InlineData("sweep_delay", "needs a value")]
    [InlineData("backup-volfile-servers", "needs a value")]
    [InlineData("backup-volfile-servers=:", "give H1:H2")]
    [InlineData("tls-cert=certs/c.pem", "give an absolute path")]
    [InlineData("tls-ca", "needs a value")]
    [InlineData("tls=yes", "takes no value")]
    public void Mistakes_are_named(string options, string message)
    {
        Assert.False(MountOptionParser.TryParse(options, out _, out var error));
        Assert.Contains(message, error);
    }

    [Fact]
    public void Every_session_option_is_named_in_the_help_and_parses_back_to_its_documented_default()
    {
        foreach (var o in Graft.Mount.MountOptions.Settable)
        {
            Assert.Contains(o.Name + "=", MountOptionParser.Known);
            Assert.True(MountOptionParser.TryParse($"{o.Name}={o.Default}", out var s, out var error), error);
            Assert.Equal(new Graft.Mount.MountOptions(), s.Session);
        }
    }

    [Fact]
    public void Backup_volfile_servers_are_a_colon_list_whose_numbers_are_ports()
    {
        Assert.True(MountOptionParser.TryParse("backup-volfile-servers=h1:h2", out var s, out _));
        Assert.Equal(["h1", "h2"], s.BackupVolfileServers);
        Assert.True(MountOptionParser.TryParse("ro,backup-volfile-servers=10.0.0.2:24008:10.0.0.3", out s, out _));
        Assert.Equal(["10.0.0.2:24008", "10.0.0.3"], s.BackupVolfileServers);
        Assert.True(MountOptionParser.TryParse(null, out s, out _));
        Assert.Empty(s.BackupVolfileServers);
    }

    [Fact]
    public void Tls_options_name_the_mounts_files()
    {
        Assert.True(MountOptionParser.TryParse("tls-cert=/etc/c.pem,tls-key=/etc/c.key,tls-ca=/etc/ca.pem", out var s, out _));
        Assert.Equal(("/etc/c.pem", "/etc/c.key", "/etc/ca.pem"), (s.TlsCert, s.TlsKey, s.TlsCa));
        Assert.True(s.UsesTls);
        Assert.True(MountOptionParser.TryParse("tls", out s, out _));
        Assert.True(s is { Tls: true, UsesTls: true, TlsCert: null });
        Assert.True(MountOptionParser.TryParse("ro", out s, out _));
        Assert.False(s.UsesTls);
    }
}
