using System.Globalization;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;

namespace Graft.Fuse;

/// <summary>The kernel-facing settings of one mount, as given with <c>-o</c>.</summary>
public sealed record MountSettings(FuseMountOptions Fuse, FuseBridgeOptions Bridge)
{
    /// <summary>The session's options (sweep, retirement and lock-wait bounds, ...): the defaults with those given by name applied.</summary>
    public Graft.Mount.MountOptions Session { get; init; } = new();

    /// <summary>-o metrics=ADDR:PORT: serve the mount's instruments in Prometheus text format there (docs/metrics.md).</summary>
    public Graft.Core.Diagnostics.MetricsAddress? Metrics { get; init; }

    /// <summary>Management daemons to fetch the volfile from when the first one is gone (each HOST or HOST:PORT).</summary>
    public IReadOnlyList<string> BackupVolfileServers { get; init; } = [];

    /// <summary>-o tls: TLS to the management daemons and the bricks, with the default files unless named below.</summary>
    public bool Tls { get; init; }
    /// <summary>-o tls-cert=, tls-key=, tls-ca=: the mount's certificate, its key and the cluster's CA (absolute paths); each implies tls.</summary>
    public string? TlsCert { get; init; }
    public string? TlsKey { get; init; }
    public string? TlsCa { get; init; }

    /// <summary>Whether any TLS option was given (they apply to HOST:/VOLUME mounts only).</summary>
    public bool UsesTls => Tls || TlsCert is not null || TlsKey is not null || TlsCa is not null;
}

/// <summary>
/// Parses <c>-o OPTIONS</c> (comma-separated, as mount(8) and FUSE users write them). Defaults are those of
/// a system-wide network filesystem: every user of the machine may use the mount (allow_other) and the
/// kernel checks mode bits for each caller (default_permissions) before the brick checks them again.
/// </summary>
public static class MountOptionParser
{
    /// <summary>Every option understood, for the error message and the help text.</summary>
    public const string Known =
        "entry_timeout=SEC, attr_timeout=SEC, negative_timeout=SEC (default 1, or notified_timeout while every brick sends " +
        "invalidation notices), notified_timeout=SEC (default 30; 0: always 1), allow_other, noallow_other, " +
        "default_permissions, nodefault_permissions, ro, rw, readers=N, read_ahead_kb=N, sweep_delay=SEC, sweep_rate=N, " +
        "retirement_timeout=SEC, drain_timeout=SEC, inode_lru_limit=N, lock_wait_reconnect_timeout=SEC, lock_retry_delay=SEC, metrics=ADDR:PORT, debug, backup-volfile-servers=H1[:PORT]:H2[:PORT]..., " +
        "tls, tls-cert=FILE, tls-key=FILE, tls-ca=FILE (HOST:/VOLUME mounts of a daemon with TLS)";

    /// <summary>Readers: one per core is enough to keep the kernel's queue drained on small machines.</summary>
    public static int DefaultReaders => Math.Clamp(Environment.ProcessorCount, 2, 8);

    /// <summary>1 MiB read-ahead: INIT can only lower the kernel's 128 KiB default, and 1 MiB requests are
    /// what makes sequential reads through FUSE approach native speed (measured: 1.19 → 1.74 GB/s).</summary>
    public const int DefaultReadAheadKb = 1024;

    /// <summary>The settings for <paramref name="options"/> (null or empty: all defaults), or a message saying what is wrong.</summary>
    public static bool TryParse(string? options, out MountSettings settings, out string error)
    {
        var fuse = new FuseMountOptions
        {
            AllowOther = true,
            DefaultPermissions = true,
            Readers = DefaultReaders,
            ReadAheadKb = DefaultReadAheadKb,
        };
        var bridge = new FuseBridgeOptions();
        var session = new Graft.Mount.MountOptions();
        IReadOnlyList<string> backups = [];
        Graft.Core.Diagnostics.MetricsAddress? metrics = null;
        bool tls = false;
        string? tlsCert = null, tlsKey = null, tlsCa = null;
        settings = new MountSettings(fuse, bridge);
        error = "";
        foreach (var raw in (options ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = raw.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? raw : raw[..eq];
            var value = eq < 0 ? null : raw[(eq + 1)..];
            bool flag = value is null;
            switch (key)
            {
                case "entry_timeout" when !flag:
                    if (!Seconds(key, value!, out var e, ref error)) return false;
                    bridge = bridge with { EntryTimeout = e };
                    break;
                case "attr_timeout" when !flag:
                    if (!Seconds(key, value!, out var a, ref error)) return false;
                    bridge = bridge with { AttrTimeout = a };
                    break;
                case "negative_timeout" when !flag:
                    if (!Seconds(key, value!, out var n, ref error)) return false;
                    bridge = bridge with { NegativeTimeout = n };
                    break;
                case "notified_timeout" when !flag:
                    if (!Seconds(key, value!, out var nt, ref error)) return false;
                    bridge = bridge with { NotifiedTimeout = nt };
                    break;
                case "allow_other" when flag: fuse = fuse with { AllowOther = true }; break;
                case "noallow_other" when flag: fuse = fuse with { AllowOther = false }; break;
                case "default_permissions" when flag: fuse = fuse with { DefaultPermissions = true }; break;
                case "nodefault_permissions" when flag: fuse = fuse with { DefaultPermissions = false }; break;
                case "ro" when flag: fuse = fuse with { ReadOnly = true }; break;
                case "rw" when flag: fuse = fuse with { ReadOnly = false }; break;
                case "debug" when flag: fuse = fuse with { Debug = true }; break;
                case "readers" when !flag:
                    if (!Int(key, value!, 1, 64, out var r, ref error)) return false;
                    fuse = fuse with { Readers = r };
                    break;
                case "read_ahead_kb" when !flag:
                    if (!Int(key, value!, 0, 1 << 20, out var ra, ref error)) return false;
                    fuse = fuse with { ReadAheadKb = ra };
                    break;
                case var _ when Graft.Mount.MountOptions.Find(key) is not null:
                    // The session's own options: one table (MountOptions.Settable) for the mount and the library.
                    if (flag) { error = $"mount option '{key}' needs a value ({key}=...)"; return false; }
                    if (!session.TrySet(key, value!, out session, out error)) return false;
                    break;
                case "backup-volfile-servers" when !flag:
                    backups = ServerList(value!);
                    if (backups.Count == 0) { error = $"mount option {key}={value}: give H1:H2 (each host may be followed by :PORT)"; return false; }
                    break;
                case "metrics" when !flag:
                    if (!Graft.Core.Diagnostics.MetricsAddress.TryParse(value, out var m, out var why)) { error = $"mount option {key}={value}: {why}"; return false; }
                    metrics = m;
                    break;
                case "tls" when flag: tls = true; break;
                case "tls-cert" or "tls-key" or "tls-ca" when !flag:
                    // Absolute: the mount daemon and mount(8)'s helper run from another directory.
                    if (!value!.StartsWith('/')) { error = $"mount option {key}={value}: give an absolute path"; return false; }
                    if (key == "tls-cert") tlsCert = value;
                    else if (key == "tls-key") tlsKey = value;
                    else tlsCa = value;
                    break;
                case "entry_timeout" or "attr_timeout" or "negative_timeout" or "notified_timeout" or "readers" or "read_ahead_kb" or "backup-volfile-servers"
                    or "metrics" or "tls-cert" or "tls-key" or "tls-ca":
                    error = $"mount option '{key}' needs a value ({key}=...)";
                    return false;
                case "allow_other" or "noallow_other" or "default_permissions" or "nodefault_permissions" or "ro" or "rw" or "debug" or "tls":
                    error = $"mount option '{key}' takes no value";
                    return false;
                default:
                    error = $"unknown mount option '{key}' (known: {Known})";
                    return false;
            }
        }
        settings = new MountSettings(fuse, bridge)
        {
            Session = session, BackupVolfileServers = backups, Metrics = metrics,
            Tls = tls, TlsCert = tlsCert, TlsKey = tlsKey, TlsCa = tlsCa,
        };
        return true;
    }

    /// <summary>GlusterFS's colon-separated host list; a number after a host is that host's port ("h1:24008:h2" = h1:24008, h2).</summary>
    static List<string> ServerList(string value)
    {
        var list = new List<string>();
        foreach (var part in value.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (list.Count > 0 && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _) && !list[^1].Contains(':', StringComparison.Ordinal))
                list[^1] += ":" + part;
            else list.Add(part);
        }
        return list;
    }

    static bool Seconds(string key, string value, out TimeSpan t, ref string error)
    {
        t = default;
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s < 0 || s > 86400 || double.IsNaN(s))
        {
            error = $"mount option {key}={value}: give seconds between 0 and 86400 (e.g. {key}=1 or {key}=0.5)";
            return false;
        }
        t = TimeSpan.FromSeconds(s);
        return true;
    }

    static bool Int(string key, string value, int min, int max, out int n, ref string error)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < min || n > max)
        {
            error = $"mount option {key}={value}: give a whole number between {min} and {max}";
            return false;
        }
        return true;
    }
}
