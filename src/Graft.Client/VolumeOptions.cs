using Graft.Mount;

namespace Graft.Client;

/// <summary>
/// Who the library acts as, and its bounds. The session's bounds (sweep, retirement, lock waits, ...) are
/// <see cref="Mount"/>: the same <see cref="MountOptions"/> a FUSE mount takes with <c>-o</c>, so either
/// front end can set everything the other can (<c>Mount = MountOptions.Parse("sweep_delay=1,retirement_timeout=5")</c>).
/// </summary>
public sealed class VolumeOptions
{
    /// <summary>Caller identity sent with every fop; the brick checks permissions against it.</summary>
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public uint[] Groups { get; init; } = [];
    /// <summary>Applied to the mode of every object the library creates.</summary>
    public uint Umask { get; init; } = 0x12; // 022
    /// <summary>Symlinks followed while resolving one path before ELOOP (Linux's MAXSYMLINKS).</summary>
    public int MaxSymlinks { get; init; } = 40;
    /// <summary>Entries asked for per readdirp call when enumerating a directory.</summary>
    public int ReaddirBatch { get; init; } = 256;

    /// <summary>The mount session's options: the one set shared with `graft mount -o`.</summary>
    public MountOptions Mount { get; init; } = new();

    // Shorthands for the same properties of Mount (they read and replace it; set Mount first if you set both).

    /// <summary>How long opening a volume, and a switch to a new graph, waits for the graph's children to come up.</summary>
    public TimeSpan ChildUpTimeout { get => Mount.ChildUpTimeout; init => Mount = Mount with { ChildUpTimeout = value }; }
    /// <summary>How long disposing a volume waits for the graph to drain.</summary>
    public TimeSpan DrainTimeout { get => Mount.DrainTimeout; init => Mount = Mount with { DrainTimeout = value }; }
    /// <summary>How long an old graph may be held by calls that never come back before its teardown is forced.</summary>
    public TimeSpan RetirementTimeout { get => Mount.RetirementTimeout; init => Mount = Mount with { RetirementTimeout = value }; }
    /// <summary>Translator types volfiles may use; the built-in ones when null.</summary>
    public Graft.Core.XlatorRegistry? Registry { get => Mount.Registry; init => Mount = Mount with { Registry = value }; }
}
