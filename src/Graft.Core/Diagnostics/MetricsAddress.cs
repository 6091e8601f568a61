using System.Globalization;
using System.Net;

namespace Graft.Core.Diagnostics;

/// <summary>
/// Where a daemon serves its Prometheus scrape endpoint: <c>ADDR:PORT</c> as given to <c>-o metrics=</c>
/// (graft mount) and <c>--metrics</c> (graft brick). ADDR is an IP address (IPv6 in brackets), <c>localhost</c>,
/// or <c>*</c> / <c>0.0.0.0</c> for every address; PORT 0 picks a free port (the daemon says which).
/// </summary>
public readonly record struct MetricsAddress(string Host, int Port)
{
    /// <summary>Every address of the machine (the HTTP listener's wildcard host).</summary>
    public bool Any => Host == "+";

    public override string ToString() => $"{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string? text, out MetricsAddress address, out string error)
    {
        address = default;
        error = $"'{text}': give ADDR:PORT, e.g. 127.0.0.1:9464 (0.0.0.0 or * for every address, port 0 for a free one)";
        if (string.IsNullOrWhiteSpace(text)) return false;
        int colon = text.LastIndexOf(':');
        if (colon <= 0) return false;
        var host = text[..colon];
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535) return false;
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        if (host is "*" or "0.0.0.0" or "::" or "+") host = "+";
        else if (host != "localhost" && !IPAddress.TryParse(host, out _)) return false;
        address = new MetricsAddress(host, port);
        error = "";
        return true;
    }
}
