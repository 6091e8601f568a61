using System.Net.Sockets;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Management.Protocol;
using Graft.Management.Volumes;

namespace Graft.EndToEnd.Tests.Management;

/// <summary>
/// Who may fetch a volume's volfile (and with it the cluster secret): the volume's auth.allow, by the
/// client's address, without any credential of its own. Other daemons are peers only when they share the
/// store. Garbage on the control port drops that connection, not the daemon.
/// </summary>
public sealed class VolfileFetchIsAuthorised
{
    [Fact]
    public async Task Auth_allow_decides_who_gets_the_volfile_and_the_secret()
    {
        var home = Proc.PrivateDir("mgmt-auth");
        await using var d = await DaemonProcess.StartAsync(Path.Combine(home, "state"));
        try
        {
            (await d.Cli("volume", "create", "v", $"127.0.0.1:{home}/b")).Ok("create");
            (await d.Cli("volume", "start", "v")).Ok("start");
            var secretCopy = Path.Combine(home, "mount.secret");

            // Default: loopback may mount. It gets the volfile naming its secret file, and the secret in that file (0600).
            using (var sub = await VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy))
            {
                Assert.Contains($"option secret-file {secretCopy}", sub.InitialText);
                Assert.DoesNotContain(File.ReadAllText(d.SecretFile).Trim(), sub.InitialText);
                Assert.Equal(File.ReadAllText(d.SecretFile).Trim(), File.ReadAllText(secretCopy).Trim());
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secretCopy));
                Assert.Equal("daemon", sub.Info.Kind);
            }

            (await d.Cli("volume", "set", "v", "auth.allow", "10.1.0.0/16")).Ok("set auth.allow");
            var refused = await Assert.ThrowsAsync<ManagementError>(() => VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy + "2"));
            Assert.Contains("may not mount volume v", refused.Message);
            Assert.False(File.Exists(secretCopy + "2"));

            (await d.Cli("volume", "set", "v", "auth.allow", "127.0.0.0/8")).Ok("set auth.allow");
            using (await VolfileSubscription.OpenAsync([("127.0.0.1", d.Port)], "v", secretCopy + "3")) { }

            // Without the secret, nothing but a volfile: administrative requests are refused.
            await using var anon = await ManagementClient.ConnectAsync("127.0.0.1", d.Port, secret: null, TimeSpan.FromSeconds(10));
            var e = await Assert.ThrowsAsync<ManagementError>(() => anon.CallAsync("volume.delete", new System.Text.Json.Nodes.JsonObject { ["name"] = "v" }));
            Assert.Contains("not authenticated", e.Message);
        }
        catch (Exception) { Console.Error.WriteLine(d.Log); throw; }
        finally { try { Directory.Delete(home, true); } catch (IOException) { } }
    }

    [Fact]
    public async Task A_daemon_with_its_own_store_is_not_a_peer_and_garbage_does_not_hurt_the_daemon()
    {
        var home = Proc.PrivateDir("mgmt-peers");
        await using var d1 = await DaemonProcess.StartAsync(Path.Combine(home, "s1"), "127.0.0.1");
        await using var d2 = await DaemonProcess.StartAsync(Path.Combine(home, "s2"), "127.0.0.2");
        var r = await d1.Cli("peer", "probe", d2.Server);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("is a daemon of another cluster", r.Err);
        r = await d1.Cli("peer", "probe", "127.0.0.1:1");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("no graft daemon answers at 127.0.0.1:1", r.Err);

        // An oversized frame length, then bytes that are not JSON: each connection is dropped.
        foreach (var junk in new[] { new byte[] { 0xff, 0xff, 0xff, 0xff }, "\0\0\0\u0005hello"u8.ToArray() })
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", d1.Port);
            var s = c.GetStream();
            await Frames.ReadAsync(s, CancellationToken.None); // the daemon's hello
            await s.WriteAsync(junk);
            var buf = new byte[16];
            var read = s.ReadAsync(buf).AsTask();
            Assert.Equal(0, await read.WaitAsync(TimeSpan.FromSeconds(10))); // closed by the daemon
        }
        (await d1.Cli("peer", "status")).Ok("the daemon still answers");
        try { Directory.Delete(home, true); } catch (IOException) { }
    }
}
