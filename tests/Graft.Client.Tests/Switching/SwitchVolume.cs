using Graft.Mount;

namespace Graft.Client.Tests.Switching;

/// <summary>
/// A volume opened from a volfile on a real storage/posix brick, with helpers that write the
/// variants of its volfile a test switches between.
/// </summary>
internal sealed class SwitchVolume : IAsyncDisposable
{
    public readonly string BrickDir;
    public readonly Volume Volume;
    /// <summary>What the volume logged at warning level or above.</summary>
    public readonly WarningLog Log;
    private bool _faults;

    private SwitchVolume(string dir, Volume v, WarningLog log) { BrickDir = dir; Volume = v; Log = log; }

    public static async Task<SwitchVolume> CreateAsync(VolumeOptions? options = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-client-tests", "switch-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var log = new WarningLog();
        var v = await Volume.OpenVolfileTextAsync(Volfile(dir, faults: false), "client.vol",
            options ?? new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10), RetirementTimeout = TimeSpan.FromSeconds(20) }, loggers: log);
        return new SwitchVolume(dir, v, log);
    }

    /// <summary>The volfile: posix, optionally debug/faults above it (a different tree: a new graph), a pass-through top.</summary>
    public static string Volfile(string dir, bool faults, string posixExtra = "", string faultsOptions = "") =>
        $"""
        volume posix
            type storage/posix
            option directory {dir}
        {posixExtra}
        end-volume
        {(faults ? $"volume faults\n    type debug/faults\n{faultsOptions}    subvolumes posix\nend-volume\n" : "")}
        volume top
            type debug/passthrough
            subvolumes {(faults ? "faults" : "posix")}
        end-volume
        """;

    /// <summary>Inserts or removes debug/faults: every call is a real graph switch.</summary>
    public async Task<SwitchResult> ToggleAsync()
    {
        _faults = !_faults;
        var r = await Volume.ApplyVolfileAsync(Volfile(BrickDir, _faults), "client.vol");
        Assert.Equal(SwitchOutcome.Switched, r.Outcome);
        return r;
    }

    public MountState State => Volume.GetState();

    /// <summary>Waits (bounded) until only the active graph is left: every old one retired and destroyed.</summary>
    public async Task WaitOneGraphAsync(TimeSpan? bound = null)
    {
        var deadline = DateTime.UtcNow + (bound ?? TimeSpan.FromSeconds(30));
        while (Volume.Session.Graphs.Count != 1)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"still {Volume.Session.Graphs.Count} graphs alive: {State.ToJson()}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        try { Directory.Delete(BrickDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
