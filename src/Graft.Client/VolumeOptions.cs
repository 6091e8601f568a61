namespace Graft.Client;

/// <summary>Who the library acts as, and its bounds.</summary>
public sealed class VolumeOptions
{
    /// <summary>Caller identity sent with every fop; the brick checks permissions against it.</summary>
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public uint[] Groups { get; init; } = [];
    /// <summary>Applied to the mode of every object the library creates.</summary>
    public uint Umask { get; init; } = 0x12; // 022
    /// <summary>How long opening a volume waits for the graph's children to come up.</summary>
    public TimeSpan ChildUpTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long disposing a volume waits for the graph to drain.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long an old graph may be held by calls that never come back before its teardown is forced.</summary>
    public TimeSpan RetirementTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Translator types volfiles may use; the built-in ones when null.</summary>
    public Graft.Core.XlatorRegistry? Registry { get; init; }
    /// <summary>Symlinks followed while resolving one path before ELOOP (Linux's MAXSYMLINKS).</summary>
    public int MaxSymlinks { get; init; } = 40;
    /// <summary>Entries asked for per readdirp call when enumerating a directory.</summary>
    public int ReaddirBatch { get; init; } = 256;
}
