namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// Another `graft mount` daemon of a `graft up` volume (same volfile, same brick): a second client of
/// the volume on this machine. Disposing unmounts it (lazily if it hangs) and kills its daemon if left.
/// </summary>
internal sealed class SecondMount : IAsyncDisposable
{
    private readonly MountedVolume _v;
    private int _disposed;

    private SecondMount(MountedVolume v, string path) { _v = v; Path = path; }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    public string P(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public static async Task<SecondMount> StartAsync(MountedVolume v, string name, string? options = null)
    {
        var mnt = System.IO.Path.Combine(v.Home, name);
        Directory.CreateDirectory(mnt);
        var volfile = Directory.GetFiles(System.IO.Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        string[] args = ["mount", "--log", System.IO.Path.Combine(v.Home, "var", "log", name + ".mount.log"), "--volfile", volfile, mnt];
        if (options is not null) args = [.. args[..1], "-o", options, .. args[1..]];
        var m = new SecondMount(v, mnt);
        try { (await Proc.Graft(v.Home, args)).Ok("graft mount (second mount)"); }
        catch { await m.DisposeAsync(); throw; }
        return m;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await Proc.UnmountAndStopAsync(_v.Home, Path);
    }
}
