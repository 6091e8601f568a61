using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Graft.Management.Volumes;

public enum VolumeState { Created, Started, Stopped }

/// <summary>
/// One brick of a volume: a directory on a host, exported as <see cref="Name"/> (what clients ask for,
/// `remote-subvolume`) on <see cref="Port"/> (chosen by the brick's own daemon at the first start, then
/// kept, so client volfiles stay the same across brick restarts). <see cref="Id"/> never changes and names
/// the client volume that reaches it.
/// </summary>
public sealed record Brick(string Host, string Path, int Id, string Name, int Port = 0)
{
    public string Spec => $"{Host}:{Path}";
}

/// <summary>
/// A volume as the store holds it (key "volumes/NAME", JSON). Immutable: a change is a new record
/// committed against the revision the old one was read at.
/// </summary>
public sealed partial record Volume(
    string Name, string Id, VolumeState State, int Replica, IReadOnlyList<Brick> Bricks,
    IReadOnlyDictionary<string, string> Options, int NextBrickId)
{
    /// <summary>Bricks being drained by `remove-brick start`, still part of the graph until `commit`.</summary>
    public IReadOnlyList<string> Removing { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = false,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static Volume FromJson(string json) => JsonSerializer.Deserialize<Volume>(json, Json)
        ?? throw new JsonException("empty volume record");

    public static string Key(string name) => "volumes/" + name;

    /// <summary>Volume names are single volfile words: letters, digits, '-', '_', '.'; they start with a letter or digit.</summary>
    public static bool ValidName(string name) => NameRule().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex NameRule();

    public string? Option(string key) => Options.TryGetValue(key, out var v) ? v : null;
}

/// <summary>What the daemon of a brick's host reports about it (key "status/VOLUME/BRICK").</summary>
public sealed record BrickStatus(string Host, string Path, int Port, int Pid, bool Online, int Restarts, string? LastExit = null);

/// <summary>A member of the trusted pool (key "peers/HOST"): where its daemon listens.</summary>
public sealed record Peer(string Host, int Port);

/// <summary>Progress of a rebalance or a remove-brick drain (key "rebalance/VOLUME"), as `graft rebalance --json` reports it.</summary>
public sealed record RebalanceStatus(string Volume, string Kind, string State, string? Leader, string? Output, long UpdatedUnixMs);

/// <summary>
/// The heal sweeps of a replicated volume (key "heal/VOLUME"): whether one is running or asked for, and
/// what the last one did. Written by the leader as it runs them and by `volume heal NAME` (Requested).
/// </summary>
public sealed record HealStatus(string Volume, string State, bool Requested, string? Leader, long UpdatedUnixMs)
{
    /// <summary>The sweep that ran last (or the running one's trigger and start while State is "running").</summary>
    public HealSweep? Last { get; init; }
    public HealSweep? Running { get; init; }

    public static string Key(string volume) => "heal/" + volume;
}

/// <summary>
/// One sweep: `graft heal --volfile FILE --json` as run by the leader. Result is "healed" (nothing left),
/// "pending" (some objects could not be healed: a copy down, or split brain), "failed (...)" or "stopped".
/// </summary>
public sealed record HealSweep(string Trigger, long StartedUnixMs, long EndedUnixMs, string Result,
    long Scanned, long Healed, long Pending, long SplitBrain, IReadOnlyList<HealEntry> Entries, string? Output);

/// <summary>An object a sweep or `heal info` names, with its state (healed, pending, split-brain).</summary>
public sealed record HealEntry(string Path, string State);
