using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A TLS brick (`graft brick --tls-cert --tls-key --tls-ca`) serves a mount whose volfile gives it a
/// certificate the brick's CA signed (a trusted session: root is root). A mount in the wrong mode, or
/// with a certificate of another CA, fails at once and `graft mount` prints why.
/// </summary>
public class TlsThroughAMount
{

    [MountFact]
    public async Task A_mount_with_a_signed_certificate_works_and_is_trusted()
    {
        var home = Proc.PrivateDir("tls-certs");
        try
        {
            var certs = TestCertificates.Create(home);
            await using var m = await BrickAndMount.StartAsync("tls", BrickAuth.None, certs.BrickArgs);
            (await m.MountAsync(certs.ClientOptions())).Ok("graft mount over TLS");
            var big = Path.Combine(m.Home, "big");
            (await Proc.Sh($"head -c 3000000 /dev/urandom > '{big}' && cp '{big}' '{m.P("big")}' && cmp '{big}' '{m.P("big")}' && touch '{m.P("mine")}'")).Ok("I/O over TLS");
            Assert.Equal("0:0", await m.OwnerOnBrickAsync("mine"));
            Assert.Equal(new FileInfo(big).Length, new FileInfo(Path.Combine(m.BrickDir, "big")).Length);
            await m.Brick.WaitForLogAsync("is cert:");
        }
        finally { Directory.Delete(home, true); }
    }

    public enum Wrong { PlaintextMountToTlsBrick, TlsMountToPlaintextBrick, CertificateOfAnotherCa }

    [MountTheory]
    [InlineData(Wrong.PlaintextMountToTlsBrick, "this brick requires TLS; give the client tls-cert, tls-key and tls-ca (EPROTO)")]
    [InlineData(Wrong.TlsMountToPlaintextBrick, "this brick does not use TLS; connect without tls-cert, tls-key and tls-ca (EPROTO)")]
    [InlineData(Wrong.CertificateOfAnotherCa, "client certificate 'CN=stranger' rejected: not signed by the trusted CA (EACCES)")]
    public async Task A_mount_in_the_wrong_mode_or_with_a_stranger_certificate_fails_and_says_why(Wrong wrong, string message)
    {
        var home = Proc.PrivateDir("tls-certs");
        try
        {
            var certs = TestCertificates.Create(home);
            await using var m = await BrickAndMount.StartAsync("tls-refused", BrickAuth.None, wrong == Wrong.TlsMountToPlaintextBrick ? [] : certs.BrickArgs);
            var started = System.Diagnostics.Stopwatch.StartNew();
            var run = await m.MountAsync(wrong switch
            {
                Wrong.PlaintextMountToTlsBrick => [],
                Wrong.CertificateOfAnotherCa => certs.ClientOptions(certs.Stranger),
                _ => certs.ClientOptions(),
            });
            Assert.NotEqual(0, run.Code);
            Assert.Contains(message, run.Err);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(BrickAndMount.MountTimeoutSeconds - 10), $"graft mount took {started.Elapsed.TotalSeconds:0} s to give up");
            Assert.False(Proc.IsMounted(m.Mnt));
        }
        finally { Directory.Delete(home, true); }
    }
}
