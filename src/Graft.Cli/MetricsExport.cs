using System.Net;
using System.Net.Sockets;
using Graft.Core.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Graft.Cli;

/// <summary>
/// Serves one daemon's meters in Prometheus text format on http://ADDR:PORT/metrics through OpenTelemetry's
/// HttpListener exporter (docs/metrics.md). Instruments created after the start (a mount session's, a brick
/// server's) are picked up by meter name.
/// </summary>
internal sealed class MetricsExport : IDisposable
{
    private readonly MeterProvider _provider;

    private MetricsExport(MeterProvider provider, string url) { _provider = provider; Url = url; }

    /// <summary>The scrape URL (with the port chosen, when 0 was asked for).</summary>
    public string Url { get; }

    /// <summary>Starts the endpoint, or returns null with <paramref name="error"/> saying why (e.g. the port is taken).</summary>
    /// <param name="serviceName">The daemon, as target_info's service_name says (graft-mount, graft-brick).</param>
    public static MetricsExport? Start(MetricsAddress at, string meterName, string serviceName, out string error)
    {
        error = "";
        // HttpListener cannot pick a port itself: for port 0 take one the kernel just handed out, and try
        // again should another process take it in between.
        for (int attempt = 0; ; attempt++)
        {
            int port = at.Port != 0 ? at.Port : FreePort(at);
            try
            {
                var provider = Sdk.CreateMeterProviderBuilder()
                    .ConfigureResource(r => r.AddService(serviceName))
                    .AddMeter(meterName)
                    .AddPrometheusHttpListener(o =>
                    {
                        o.Host = at.Host;
                        o.Port = port;
                        o.ScrapeEndpointPath = "/metrics";
                        // Every scrape reads the counters afresh: they are cheap to read, and a cached
                        // answer would hide a change for up to 300 ms.
                        o.ScrapeResponseCacheDurationMilliseconds = 0;
                    })
                    .Build();
                var host = at.Any ? "0.0.0.0" : at.Host.Contains(':', StringComparison.Ordinal) ? $"[{at.Host}]" : at.Host;
                return new MetricsExport(provider, $"http://{host}:{port}/metrics");
            }
            catch (Exception e) when (e is HttpListenerException or SocketException or InvalidOperationException or ArgumentException)
            {
                if (at.Port == 0 && attempt < 5) continue;
                error = $"cannot serve metrics on {at.Host}:{port}: {e.Message}";
                return null;
            }
        }
    }

    private static int FreePort(MetricsAddress at)
    {
        var addr = at.Any || at.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(at.Host);
        using var l = new TcpListener(addr, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose() => _provider.Dispose();
}
