using System.Globalization;
using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// Bounds and settings of a mount session: the one set of options both front ends use. `graft mount -o NAME=VALUE`
/// sets those in <see cref="Settable"/> (through <see cref="TrySet"/>); the library takes the same type as
/// <c>VolumeOptions.Mount</c>, or parses the same <c>-o</c> text with <see cref="Parse"/>.
/// </summary>
public sealed record MountOptions
{
    /// <summary>How long unmount waits for fops in flight and PARENT_DOWN_HANDLED before tearing the graph down.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a new graph may take to bring its children up before the switch is reported as
    /// failed (the old graph keeps serving, and the new one keeps trying in the background).
    /// </summary>
    public TimeSpan ChildUpTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The translator types new volfiles may use (graph switches build graphs from them).</summary>
    public XlatorRegistry? Registry { get; init; }

    /// <summary>This mount's identity: the owner half of its locks, fixed for the session's life (DESIGN invariant 9).</summary>
    public Guid MountId { get; init; } = Graph.ProcessMountId;

    /// <summary>
    /// How long an old graph may be kept alive by fops that never come back (lost frames, held
    /// calls) before its teardown is forced and those calls fail with ENOTCONN.
    /// </summary>
    public TimeSpan RetirementTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many idle handles a second the background sweep moves off an old graph.</summary>
    public int SweepRate { get; init; } = 2000;

    /// <summary>How long after a switch the sweep waits, so that busy handles move on their own first.</summary>
    public TimeSpan SweepDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Inode LRU bound of each graph this session builds.</summary>
    public int InodeLruLimit { get; init; } = 16384;

    /// <summary>
    /// How long a blocking lock request (F_SETLKW) whose brick went away waits for it to come back before it
    /// fails with ENOTCONN. A restarted brick holds re-asked waits until its lock grace ends.
    /// </summary>
    public TimeSpan LockWaitReconnectTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a blocking lock request pauses before it tries again to move to a new graph whose brick it
    /// could not reach yet, and between looks at whether its brick is back (bounded by <see cref="LockWaitReconnectTimeout"/>).
    /// </summary>
    public TimeSpan LockRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>An option settable by name (<c>-o NAME=VALUE</c>): its value's form, default and meaning.</summary>
    public sealed record Setting(string Name, string Form, string Default, string Description, Func<MountOptions, string, MountOptions?> Apply);

    private static readonly MountOptions Defaults = new();

    /// <summary>The session options `graft mount -o` understands, in the order the docs list them.</summary>
    public static IReadOnlyList<Setting> Settable { get; } =
    [
        Seconds("sweep_delay", Defaults.SweepDelay, "how long after a graph switch idle open files start being moved to the new graph in the background (busy ones move on their next call)",
                (o, t) => o with { SweepDelay = t }),
        Count("sweep_rate", Defaults.SweepRate, 1, 1_000_000, "idle open files the background sweep moves per second",
              (o, n) => o with { SweepRate = n }),
        Seconds("retirement_timeout", Defaults.RetirementTimeout, "how long an old graph may be held by calls that never come back before it is torn down and they fail with ENOTCONN",
                (o, t) => o with { RetirementTimeout = t }, min: 1),
        Seconds("drain_timeout", Defaults.DrainTimeout, "how long unmount waits for calls in flight and the graph's teardown answer before destroying it anyway",
                (o, t) => o with { DrainTimeout = t }),
        Count("inode_lru_limit", Defaults.InodeLruLimit, 0, 1 << 24, "inodes each graph keeps cached once nothing references them",
              (o, n) => o with { InodeLruLimit = n }),
        Seconds("lock_wait_reconnect_timeout", Defaults.LockWaitReconnectTimeout, "how long a blocking lock request (F_SETLKW) whose brick went away waits for it to come back before failing with ENOTCONN",
                (o, t) => o with { LockWaitReconnectTimeout = t }),
        Seconds("lock_retry_delay", Defaults.LockRetryDelay, "pause before a blocking lock request tries again to move to a new graph, or looks again whether its brick is back",
                (o, t) => o with { LockRetryDelay = t }, min: 0.001),
    ];

    /// <summary>The setting named <paramref name="name"/>, or null.</summary>
    public static Setting? Find(string name) => Settable.FirstOrDefault(s => s.Name == name);

    /// <summary>Sets <paramref name="name"/> from <paramref name="value"/>; false with a message naming the option and the form it needs.</summary>
    public bool TrySet(string name, string value, out MountOptions result, out string error)
    {
        result = this;
        error = "";
        if (Find(name) is not { } s) { error = $"unknown mount option '{name}'"; return false; }
        if (s.Apply(this, value) is not { } set) { error = $"mount option {name}={value}: give {s.Form}"; return false; }
        result = set;
        return true;
    }

    /// <summary>
    /// These options with <c>NAME=VALUE,...</c> applied, as `graft mount -o` takes them (session options only).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown option or a bad value; the message names it.</exception>
    public MountOptions With(string options)
    {
        var o = this;
        foreach (var part in options.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0) throw new ArgumentException($"mount option '{part}' needs a value ({part}=...)", nameof(options));
            if (!o.TrySet(part[..eq], part[(eq + 1)..], out o, out var error)) throw new ArgumentException(error, nameof(options));
        }
        return o;
    }

    /// <summary>The defaults with <paramref name="options"/> (<c>NAME=VALUE,...</c>) applied; see <see cref="With"/>.</summary>
    public static MountOptions Parse(string options) => Defaults.With(options);

    private static Setting Seconds(string name, TimeSpan d, string description, Func<MountOptions, TimeSpan, MountOptions?> set, double min = 0) =>
        new(name, $"seconds between {min.ToString(CultureInfo.InvariantCulture)} and 86400 (e.g. {name}=1 or {name}=0.5)", d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture), description,
            (o, v) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= min && s <= 86400 ? set(o, TimeSpan.FromSeconds(s)) : null);

    private static Setting Count(string name, int d, int min, int max, string description, Func<MountOptions, int, MountOptions?> set) =>
        new(name, $"a whole number between {min} and {max}", d.ToString(CultureInfo.InvariantCulture), description,
            (o, v) => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max ? set(o, n) : null);
}
