using System.Globalization;
using System.Text.RegularExpressions;

namespace Graft.EndToEnd.Tests.Metrics;

/// <summary>One sample of a Prometheus text-format scrape: <c>name{label="value",...} number</c>.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// Scrapes a /metrics endpoint and parses the Prometheus text exposition format (0.0.4): comment lines
/// (# HELP, # TYPE) are skipped; every other line must be a sample, or the scrape is not the format.
/// </summary>
internal static partial class PrometheusText
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<IReadOnlyList<Sample>> ScrapeAsync(string url)
    {
        using var reply = await Http.GetAsync(url);
        reply.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", reply.Content.Headers.ContentType?.MediaType ?? "");
        return Parse(await reply.Content.ReadAsStringAsync());
    }

    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a Prometheus sample line: {line}");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match l in Label().Matches(m.Groups["labels"].Value))
                labels[l.Groups["k"].Value] = l.Groups["v"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            var v = m.Groups["value"].Value;
            samples.Add(new Sample(m.Groups["name"].Value, labels,
                v switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN, _ => double.Parse(v, CultureInfo.InvariantCulture) }));
        }
        return samples;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>; 0 if there is none yet.</summary>
    public static double Value(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels)
    {
        var found = samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
        Assert.True(found.Count <= 1, $"{found.Count} samples of {name}");
        return found.Count == 0 ? 0 : found[0].Value;
    }

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?<v>(\\.|[^"\\])*)",?""")]
    private static partial Regex Label();
}
