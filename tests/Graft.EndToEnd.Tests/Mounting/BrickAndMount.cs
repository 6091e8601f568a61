using System.Globalization;
using System.Text;
using Graft.EndToEnd.Tests.Network;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A brick process started with the arguments a test chooses, and `graft mount` of a client volfile
/// with the protocol/client options it chooses — for tests about what a brick lets a mount do (or
/// whether it lets it mount at all). Disposing unmounts (lazily if it hangs), kills a daemon left
/// behind, stops the brick and removes the private directory.
/// </summary>
internal sealed class BrickAndMount : IAsyncDisposable
{
    private BrickAndMount(string home, BrickProcess brick) { Home = home; Brick = brick; }

    public string Home { get; }
    public BrickProcess Brick { get; }
    public string BrickDir => Path.Combine(Home, "b");
    public string Mnt => Path.Combine(Home, "mnt");
    public string P(params string[] parts) => Path.Combine([Mnt, .. parts]);

    public static async Task<BrickAndMount> StartAsync(string what, BrickAuth auth, params string[] brickArgs)
    {
        var home = Proc.PrivateDir(what);
        Directory.CreateDirectory(Path.Combine(home, "b"));
        Directory.CreateDirectory(Path.Combine(home, "mnt"));
        var brick = await BrickProcess.ServeDirAsync(auth, Path.Combine(home, "b"), 0, [.. brickArgs, "--name", "b"]);
        return new BrickAndMount(home, brick);
    }

    /// <summary>How long `graft mount` may wait for the brick (its --timeout): a refusal must end it well before.</summary>
    public const int MountTimeoutSeconds = 60;

    /// <summary>`graft mount` of protocol/client to this brick with <paramref name="options"/>; the run's outcome, mounted or not.</summary>
    public async Task<Run> MountAsync(Dictionary<string, string> options)
    {
        var vol = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"volume b-client\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {Brick.Port}\n    option remote-subvolume b\n"));
        foreach (var (k, v) in options) vol.Append(CultureInfo.InvariantCulture, $"    option {k} {v}\n");
        vol.Append("end-volume\n");
        var volfile = Path.Combine(Home, "client.vol");
        await File.WriteAllTextAsync(volfile, vol.ToString());
        return await Proc.Graft(Home, "mount", "--timeout", MountTimeoutSeconds.ToString(CultureInfo.InvariantCulture), "--log", Path.Combine(Home, "mount.log"), "--volfile", volfile, Mnt);
    }

    /// <summary>uid:gid of a file in the brick directory, as the brick's filesystem has it.</summary>
    public async Task<string> OwnerOnBrickAsync(string name) =>
        (await Proc.Sh($"stat -c %u:%g '{Path.Combine(BrickDir, name)}'")).Ok("stat on the brick").Out.Trim();

    public async ValueTask DisposeAsync()
    {
        await Proc.UnmountAndStopAsync(Home, Mnt);
        await Brick.DisposeAsync();
        if (!Proc.IsMounted(Mnt))
            try { Directory.Delete(Home, recursive: true); } catch (IOException) { }
    }
}
