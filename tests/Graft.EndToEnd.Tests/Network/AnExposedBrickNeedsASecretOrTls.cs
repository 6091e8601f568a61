using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A brick that would listen beyond loopback with neither a secret nor TLS refuses to start and says
/// why (root squash alone still lets anyone who reaches the port act as any other user); --insecure
/// starts it anyway, with a warning in its log; a secret is enough.
/// </summary>
public class AnExposedBrickNeedsASecretOrTls
{
    [Fact]
    public async Task It_refuses_to_start_unless_given_a_secret_or_insecure()
    {
        var dir = BrickProcess.NewTempDir();
        var dll = Path.Combine(AppContext.BaseDirectory, "graft.dll");
        var refused = await Proc.RunAsync("dotnet", [dll, "brick", "--dir", dir, "--port", "0", "--listen", "0.0.0.0"], seconds: 60);
        Assert.Equal(1, refused.Code);
        Assert.Contains("refusing to listen on 0.0.0.0 with neither a secret (secret-file) nor TLS", refused.Err);
        Assert.Contains("--insecure", refused.Err);
        Assert.DoesNotContain("listening", refused.Out);

        await using (var insecure = await BrickProcess.ServeDirAsync(BrickAuth.None, dir, 0, "--listen", "0.0.0.0", "--insecure"))
            await insecure.WaitForLogAsync("listening on 0.0.0.0 with neither a secret nor TLS (allow-insecure)");

        await using var withSecret = await BrickProcess.ServeDirAsync(dir, 0, "--listen", "0.0.0.0");
        Assert.DoesNotContain(withSecret.Log, l => l.Contains("allow-insecure", StringComparison.Ordinal));
        Directory.Delete(dir, true);
    }
}
