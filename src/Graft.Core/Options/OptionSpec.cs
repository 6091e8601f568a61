using System.Globalization;

namespace Graft.Core;

public enum OptionKind { String, Int, Size, Bool, Time, Path, Enum, Percent }

/// <summary>
/// One option a translator declares: its type, range, default and a one-line description.
/// <see cref="Runtime"/> options can be changed on a live graph by reconfigure.
/// </summary>
public sealed record OptionSpec(string Name, OptionKind Kind, string? Default, string Description)
{
    public long Min { get; init; } = long.MinValue;
    public long Max { get; init; } = long.MaxValue;
    public string[]? Choices { get; init; }
    public bool Runtime { get; init; }
    /// <summary>The volfile must give a value.</summary>
    public bool Required { get; init; }
    /// <summary>Other names accepted for this option (GlusterFS spellings).</summary>
    public string[] Aliases { get; init; } = [];

    /// <summary>Checks and normalises a value; returns null and an error message when it is invalid.</summary>
    public object? Parse(string text, out string? error)
    {
        error = null;
        switch (Kind)
        {
            case OptionKind.String:
            case OptionKind.Path:
                if (Kind == OptionKind.Path && text.Length == 0) { error = "must be a path"; return null; }
                return text;
            case OptionKind.Bool:
                switch (text.ToLowerInvariant())
                {
                    case "on" or "yes" or "true" or "enable" or "1": return true;
                    case "off" or "no" or "false" or "disable" or "0": return false;
                }
                error = $"'{text}' is not a boolean (on/off)"; return null;
            case OptionKind.Enum:
                foreach (var c in Choices ?? []) if (string.Equals(c, text, StringComparison.OrdinalIgnoreCase)) return c;
                error = $"'{text}' is not one of {string.Join(", ", Choices ?? [])}"; return null;
            case OptionKind.Int:
            case OptionKind.Size:
            case OptionKind.Time:
            case OptionKind.Percent:
                long v;
                bool ok = Kind switch
                {
                    OptionKind.Size => TryParseSize(text, out v),
                    OptionKind.Time => TryParseTimeMs(text, out v),
                    OptionKind.Percent => long.TryParse(text.TrimEnd('%'), NumberStyles.Integer, CultureInfo.InvariantCulture, out v),
                    _ => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out v),
                };
                if (!ok) { error = $"'{text}' is not a valid {Kind.ToString().ToLowerInvariant()}"; return null; }
                if (v < Min || v > Max) { error = $"{text} is out of range [{Describe(Min)}, {Describe(Max)}]"; return null; }
                return v;
        }
        error = "unsupported option kind";
        return null;
    }

    // Bounds are shown in the units the option is written in ("[4KB, 1GB]", "[0ms, 3600s]").
    private string Describe(long bound) => bound switch
    {
        long.MinValue => "-inf",
        long.MaxValue => "inf",
        _ when Kind == OptionKind.Size => FormatSize(bound),
        _ when Kind == OptionKind.Time => bound % 1000 == 0 ? $"{bound / 1000}s" : $"{bound}ms",
        _ => bound.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Bytes with the largest binary suffix that divides them exactly ("4KB", "1GB", "1000").</summary>
    public static string FormatSize(long bytes)
    {
        foreach (var (suffix, shift) in new[] { ("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10) })
            if (bytes != 0 && bytes % (1L << shift) == 0) return (bytes >> shift).ToString(CultureInfo.InvariantCulture) + suffix;
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Sizes: plain bytes or with a KB/MB/GB (binary) suffix, as GlusterFS accepts.</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var t = text.Trim().ToUpperInvariant();
        long mult = 1;
        foreach (var (suffix, m) in new[] { ("KB", 1L << 10), ("MB", 1L << 20), ("GB", 1L << 30), ("TB", 1L << 40), ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("B", 1L) })
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal)) { mult = m; t = t[..^suffix.Length].Trim(); break; }
        }
        if (!long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 0) return false;
        try { bytes = checked(n * mult); } catch (OverflowException) { return false; }
        return true;
    }

    /// <summary>Times in milliseconds: plain numbers are seconds; "ms", "s", "m" suffixes are accepted.</summary>
    public static bool TryParseTimeMs(string text, out long ms)
    {
        ms = 0;
        var t = text.Trim().ToLowerInvariant();
        long mult = 1000;
        if (t.EndsWith("ms", StringComparison.Ordinal)) { mult = 1; t = t[..^2]; }
        else if (t.EndsWith('s')) { t = t[..^1]; }
        else if (t.EndsWith('m')) { mult = 60_000; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d < 0 || double.IsNaN(d)) return false;
        ms = (long)Math.Round(d * mult);
        return true;
    }
}

/// <summary>The validated option values of one translator instance.</summary>
public sealed class OptionValues
{
    private readonly Dictionary<string, object> _values;
    private readonly Dictionary<string, string> _raw;

    public OptionValues(IReadOnlyList<OptionSpec> specs, IReadOnlyDictionary<string, string> raw)
    {
        Specs = specs;
        _raw = new Dictionary<string, string>(raw, StringComparer.Ordinal);
        _values = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var s in specs)
        {
            string? text = null;
            foreach (var n in s.Aliases.Prepend(s.Name)) if (raw.TryGetValue(n, out var r)) { text = r; break; }
            text ??= s.Default;
            if (text is null) continue;
            var v = s.Parse(text, out var err) ?? throw new ArgumentException($"option '{s.Name}': {err}");
            _values[s.Name] = v;
        }
    }

    public IReadOnlyList<OptionSpec> Specs { get; }
    /// <summary>The options as written in the volfile (only those given).</summary>
    public IReadOnlyDictionary<string, string> Raw => _raw;

    public bool Has(string name) => _values.ContainsKey(name);
    /// <summary>The parsed value (string, long or bool), or null when the option has no value and no default.</summary>
    public object? ValueOrNull(string name) => _values.GetValueOrDefault(name);
    public string GetString(string name) => (string)Get(name);
    public string? GetStringOrNull(string name) => _values.TryGetValue(name, out var v) ? (string)v : null;
    public long GetLong(string name) => (long)Get(name);
    public int GetInt(string name) => checked((int)(long)Get(name));
    public bool GetBool(string name) => (bool)Get(name);
    public TimeSpan GetTime(string name) => TimeSpan.FromMilliseconds((long)Get(name));

    private object Get(string name) =>
        _values.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"option '{name}' has no value and no default");
}
