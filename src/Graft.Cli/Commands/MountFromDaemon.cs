using Graft.Fuse;
using Graft.Management.Protocol;
using Graft.Management.Volumes;
using Graft.Mount.Control;
using Microsoft.Extensions.Logging;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft mount HOST[:PORT]:/VOLUME MNT`: the volfile comes from a management daemon (then from the
/// backup volfile servers in turn), and every change of the volume is pushed and applied.
/// </summary>
internal static class MountFromDaemon
{
    /// <summary>"HOST[:PORT]:/VOLUME" → the daemon and the volume (a path that is a file is not a spec).</summary>
    public static bool TryParseSpec(string spec, out (string Host, int Port) server, out string volume, out string why)
    {
        server = default;
        volume = "";
        var at = spec.IndexOf(":/", StringComparison.Ordinal);
        if (at <= 0 || spec.StartsWith('/') || File.Exists(spec)) { why = $"'{spec}' is not HOST[:PORT]:/VOLUME"; return false; }
        volume = spec[(at + 2)..].Trim('/');
        if (!Volume.ValidName(volume)) { why = $"'{volume}' is not a volume name"; return false; }
        try { server = ManagementClient.ParseAddress(spec[..at], DaemonCommand.DefaultPort); }
        catch (FormatException e) { why = e.Message; return false; }
        why = "";
        return true;
    }

    public static async Task<VolfileSubscription?> SubscribeAsync(string spec, string mountPoint, MountSettings settings, ILoggerFactory loggers,
                                                                 TextWriter error, CancellationToken ct)
    {
        if (!TryParseSpec(spec, out var server, out var volume, out var why)) { error.WriteLine("graft mount: " + why); return null; }
        var servers = new List<(string, int)> { server };
        foreach (var b in settings.BackupVolfileServers)
        {
            try { servers.Add(ManagementClient.ParseAddress(b, server.Port)); }
            catch (FormatException e) { error.WriteLine("graft mount: backup-volfile-servers: " + e.Message); return null; }
        }
        // The cluster secret the daemon hands over lives beside the mount's control socket: root's, 0600.
        var secretFile = Path.ChangeExtension(ControlClient.SocketPathFor(mountPoint), ".secret");
        var tls = TlsFiles.From(settings.Tls, settings.TlsCert, settings.TlsKey, settings.TlsCa);
        try { return await VolfileSubscription.OpenAsync(servers, volume, secretFile, loggers, ct, tls); }
        catch (ManagementError e) { error.WriteLine("graft mount: " + e.Message); return null; }
    }
}
