using Graft.Core;
using Graft.Xlators.Performance.MdCache;
using Graft.Xlators.Performance.WriteBehind;
using Graft.Xlators.Protocol.Client;

namespace Graft.Management.Volumes;

/// <summary>How a key reaches mounted clients when it changes.</summary>
public enum KeyEffect
{
    /// <summary>Adds or removes a translator: every client builds a new graph (files stay open).</summary>
    Graph,
    /// <summary>An option of a translator that can change at run time: reconfigured in place.</summary>
    RunTime,
    /// <summary>An option of a translator that cannot change at run time: a new graph.</summary>
    NewGraph,
    /// <summary>Read by the daemon itself (who may fetch volfiles); no graph changes.</summary>
    Daemon,
}

/// <summary>
/// One volume key (`volume set NAME KEY VALUE`). Keys that set a translator option take that option's
/// <see cref="OptionSpec"/> — its type, range, default, description and whether it can change at run time —
/// so a range or a run-time flag is declared once, by the translator.
/// </summary>
public sealed record VolumeKey(string Name, OptionSpec Spec, string? Xlator, string? XlatorOption, bool Shape = false)
{
    public string? Default => Spec.Default;
    public string Description => Spec.Description;
    public KeyEffect Effect => Shape ? KeyEffect.Graph
        : Xlator is null ? KeyEffect.Daemon
        : Spec.Runtime ? KeyEffect.RunTime : KeyEffect.NewGraph;

    /// <summary>The value in the form it is stored and written into volfiles, or null and why it is wrong.</summary>
    public string? Normalise(string value, out string? error)
    {
        var parsed = Spec.Parse(value.Trim(), out error);
        if (parsed is null) return null;
        return parsed switch
        {
            bool b => b ? "on" : "off",
            _ => value.Trim(),
        };
    }
}

/// <summary>
/// Every volume key, in one table: `volume get NAME all`, the validation of `volume set` and the
/// volfile generator all read it. Names are GlusterFS's where GlusterFS has the key.
/// </summary>
public static class VolumeKeys
{
    private static OptionSpec Of(XlatorSpec xlator, string option) =>
        xlator.Options.Single(o => o.Name == option);

    public const string WriteBehind = "performance.write-behind";
    public const string WriteBehindWindow = "performance.write-behind-window-size";
    public const string AggregateSize = "performance.aggregate-size";
    public const string WritesInFlight = "performance.writes-in-flight";
    public const string MdCache = "performance.md-cache";
    public const string MdCacheTimeout = "performance.md-cache-timeout";
    public const string PingTimeout = "network.ping-timeout";
    public const string FrameTimeout = "network.frame-timeout";
    public const string AuthAllow = "auth.allow";
    public const string HealInterval = "cluster.heal-interval";

    public static readonly IReadOnlyList<VolumeKey> All =
    [
        new(WriteBehind, new OptionSpec("write-behind", OptionKind.Bool, "on",
                "performance/write-behind in the client graph: writes are acknowledged once queued and written in order behind"),
            Xlator: WriteBehindTranslator.Spec.Type, XlatorOption: null, Shape: true),
        new(WriteBehindWindow, Of(WriteBehindTranslator.Spec, "cache-size"), WriteBehindTranslator.Spec.Type, "cache-size"),
        new(AggregateSize, Of(WriteBehindTranslator.Spec, "aggregate-size"), WriteBehindTranslator.Spec.Type, "aggregate-size"),
        new(WritesInFlight, Of(WriteBehindTranslator.Spec, "writes-in-flight"), WriteBehindTranslator.Spec.Type, "writes-in-flight"),
        new(MdCache, new OptionSpec("md-cache", OptionKind.Bool, "on",
                "performance/md-cache in the client graph: a directory's attributes reported by a create or unlink in it answer the next stat"),
            Xlator: MdCacheTranslator.Spec.Type, XlatorOption: null, Shape: true),
        new(MdCacheTimeout, Of(MdCacheTranslator.Spec, "timeout"), MdCacheTranslator.Spec.Type, "timeout"),
        new(PingTimeout, Of(ProtocolClient.Spec, "ping-timeout"), ProtocolClient.Spec.Type, "ping-timeout"),
        new(FrameTimeout, Of(ProtocolClient.Spec, "frame-timeout"), ProtocolClient.Spec.Type, "frame-timeout"),
        new(AuthAllow, new OptionSpec("auth.allow", OptionKind.String, "",
                "addresses or CIDRs (comma-separated, or *) that may fetch this volume's volfile and mount it; empty: loopback and the peers' addresses"),
            Xlator: null, XlatorOption: null),
        new(HealInterval, new OptionSpec("heal-interval", OptionKind.Time, "600",
                "how often the leading daemon sweeps a replicated volume's heal indexes (graft heal) without being asked; 0: only on `volume heal NAME` and when a brick comes back")
            { Min = 0, Max = 7 * 24 * 3600 * 1000L },
            Xlator: null, XlatorOption: null),
    ];

    public static VolumeKey? Find(string name) => All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The key's value for <paramref name="volume"/>: set, or its default.</summary>
    public static string ValueOf(Volume volume, VolumeKey key) => volume.Option(key.Name) ?? key.Default ?? "";

    public static bool IsOn(Volume volume, string key) =>
        Find(key) is { } k && k.Spec.Parse(ValueOf(volume, k), out _) is true;
}
