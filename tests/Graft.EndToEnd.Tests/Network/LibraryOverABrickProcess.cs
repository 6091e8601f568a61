using Graft.Client;
using Graft.EndToEnd.Tests.Retirement;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A library <see cref="Volume"/> in this process (protocol/client only, no kernel anywhere on the client side)
/// over a `graft brick` child process serving a fresh directory, acting as the identity in its options.
/// </summary>
internal sealed class LibraryOverABrickProcess : IAsyncDisposable
{
    readonly string _temp;
    public BrickProcess Brick { get; }
    public Volume Volume { get; }
    /// <summary>The exported directory, to look at what the brick really did.</summary>
    public string BrickDir => Path.Combine(_temp, NetVolume.Brick);

    LibraryOverABrickProcess(string temp, BrickProcess brick, Volume volume) { _temp = temp; Brick = brick; Volume = volume; }

    public static async Task<LibraryOverABrickProcess> StartAsync(VolumeOptions? options = null)
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, NetVolume.Brick);
        Directory.CreateDirectory(dir);
        BrickProcess? brick = null;
        try
        {
            brick = await BrickProcess.ServeDirAsync(dir);
            var v = await Volume.OpenVolfileTextAsync(NetVolume.Volfile(brick.Port, writeBehind: false), "client.vol",
                options ?? new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
            return new LibraryOverABrickProcess(temp, brick, v);
        }
        catch
        {
            if (brick is not null) await brick.DisposeAsync();
            await RemoveTreeAsync(temp);
            throw;
        }
    }

    /// <summary>Another volume on the same brick, acting as someone else.</summary>
    public Task<Volume> OpenAsAsync(VolumeOptions options) =>
        Volume.OpenVolfileTextAsync(NetVolume.Volfile(Brick.Port, writeBehind: false), "client.vol", options);

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        await Brick.DisposeAsync();
        await RemoveTreeAsync(_temp);
    }

    /// <summary>rm -rf: Directory.Delete cannot remove names that are not UTF-8 (it sees them as U+FFFD).</summary>
    public static async Task RemoveTreeAsync(string path) =>
        (await Mounting.Proc.RunAsync("rm", ["-rf", path], seconds: 60)).Ok("rm -rf " + path);
}
