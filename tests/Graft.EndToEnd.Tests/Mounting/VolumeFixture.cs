namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// One `graft up` volume shared by the POSIX tests of a class (bringing a volume up costs seconds); each
/// test works in its own directory. Nothing is started when the tests are skipped (no root, CI unset).
/// </summary>
public sealed class VolumeFixture : IAsyncLifetime, IMountUnderTest
{
    MountedVolume? _v;

    internal MountedVolume V => _v ?? throw new InvalidOperationException("no volume (tests skipped?)");

    /// <summary>A fresh directory on the mount for one test, world-writable so other users can be tried in it.</summary>
    public string Mnt => V.Mnt;
    public IReadOnlyList<string> BrickDirs => [V.Brick];

    public string NewDir(string name)
    {
        var d = V.P(name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(d);
        return d;
    }

    public async Task InitializeAsync()
    {
        if (new MountFactAttribute().Skip is not null) return;
        _v = await MountedVolume.UpAsync("posix");
    }

    public async Task DisposeAsync()
    {
        if (_v is not null) await _v.DisposeAsync();
    }
}
