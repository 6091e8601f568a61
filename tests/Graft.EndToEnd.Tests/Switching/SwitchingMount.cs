using System.Text.Json;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Mount.Control;

namespace Graft.EndToEnd.Tests.Switching;

/// <summary>
/// A mounted volume (`graft up`) whose client volfile the test rewrites, as an operator or a
/// config tool would, to make the mount daemon switch graphs.
/// </summary>
internal sealed class SwitchingMount : IAsyncDisposable
{
    public readonly MountedVolume Volume;
    public readonly string VolfilePath;
    private readonly string _original;
    private bool _faults;
    private int _writes;

    public SwitchingMount(MountedVolume v)
    {
        Volume = v;
        VolfilePath = Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        _original = File.ReadAllText(VolfilePath);
    }

    public static async Task<SwitchingMount> UpAsync(string what, params string[] mountOptions) => new(await MountedVolume.UpAsync(what, mountOptions));

    /// <summary>The volfile `graft up` wrote.</summary>
    public string Original => _original;

    public string Mnt => Volume.Mnt;
    public string P(params string[] parts) => Volume.P(parts);

    /// <summary>The volfile with a layer of <paramref name="type"/> on top (a new tree: a new graph) or without.</summary>
    public string Variant(bool layer, string layerOptions = "", string type = "debug/faults")
    {
        if (!layer) return _original;
        var top = TopName(_original);
        return _original.TrimEnd() + $"\n\nvolume graft-test-layer\n    type {type}\n{layerOptions}    subvolumes {top}\nend-volume\n";
    }

    internal static string TopName(string volfile) =>
        volfile.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("volume ", StringComparison.Ordinal)).Last()[7..].Trim();

    /// <summary>Writes the volfile, alternately in place and by replace-by-rename (both must be noticed).</summary>
    public void Write(string text)
    {
        if (_writes++ % 2 == 0) Proc.WriteVolfile(VolfilePath, text);
        else
        {
            var tmp = VolfilePath + ".tmp";
            Proc.WriteVolfile(tmp, text);
            File.Move(tmp, VolfilePath, overwrite: true);
        }
    }

    /// <summary>Inserts or removes a layer (debug/faults by default) and waits (bounded) until the mount runs the new graph.</summary>
    public Task<long> ToggleAsync(string type = "debug/faults")
    {
        _faults = !_faults;
        return ApplyAsync(Variant(_faults, type: type));
    }

    /// <summary>Writes <paramref name="volfile"/> and waits (bounded) until the mount runs a newer graph.</summary>
    public async Task<long> ApplyAsync(string volfile)
    {
        var before = State().GetProperty("activeGeneration").GetInt64();
        Write(volfile);
        long now = before;
        await Proc.Until(() => (now = State().GetProperty("activeGeneration").GetInt64()) > before,
            $"a switch past generation {before}", seconds: 30);
        return now;
    }

    public JsonElement State()
    {
        var json = ControlClient.Send(ControlClient.SocketPathFor(Mnt), "state", TimeSpan.FromSeconds(5));
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    public long Counter(string name) => State().GetProperty("counters").GetProperty(name).GetInt64();

    /// <summary>Waits (bounded) until the mount holds only its active graph: every old one retired and destroyed.</summary>
    public Task OneGraphAliveAsync(double seconds = 60) =>
        Proc.Until(() => State().GetProperty("graphs").GetArrayLength() == 1, "one graph alive", seconds);

    public ValueTask DisposeAsync() => Volume.DisposeAsync();
}
