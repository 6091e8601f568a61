using System.CommandLine;
using System.Diagnostics;
using Graft.Core;
using Graft.Fuse;
using Graft.Fuse.Raw;
using Graft.Mount.Control;
using Graft.Mount.Switching;
using Microsoft.Extensions.Logging;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft mount [-f] [-o OPTIONS] --volfile FILE MOUNTPOINT`: the mount daemon. With -f it runs in the
/// foreground (logs on stderr); otherwise it starts itself detached with -f and returns once the mount
/// answers on its control socket, or prints the daemon's error and fails.
/// </summary>
public static class MountCommand
{
    public static Command Create(Func<XlatorRegistry> registry)
    {
        var foreground = new Option<bool>("-f", "--foreground") { Description = "Stay in the foreground (logs on stderr) until unmounted." };
        var options = new Option<string?>("-o", "--options") { Description = "Mount options, comma-separated: " + MountOptionParser.Known + "." };
        var volfile = new Option<FileInfo?>("--volfile") { Description = "The client volfile describing the volume's graph (instead of HOST:/VOLUME)." };
        var log = new Option<FileInfo?>("--log") { Description = "Where a detached daemon writes its output (default under " + Daemons.DefaultLogDir + "). SIGUSR1 to the daemon writes a state dump (graft state and a metrics snapshot, JSON) to this file's directory: mount-SLUG.PID.dump-TIME.json." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the mount to answer (detached) or the volume to come up.", DefaultValueFactory = _ => 60 };
        var places = new Argument<string[]>("[HOST[:PORT]:/VOLUME] MOUNTPOINT")
        {
            Description = "The volume of a management daemon (graft daemon) to mount, unless --volfile is given; then an existing, empty directory.",
            Arity = new ArgumentArity(1, 2),
        };
        var cmd = new Command("mount", "Mount a volume through FUSE, from a management daemon (HOST[:PORT]:/VOLUME; every change of the volume is applied as it is made, -o backup-volfile-servers=H1:H2 names daemons to fall back on; -o tls-cert=FILE,tls-key=FILE,tls-ca=FILE, or -o tls for " + Graft.Management.Protocol.TlsFiles.DefaultDir + ", for a daemon with TLS: its bricks are then reached over TLS too) or from a volfile (--volfile FILE: edit it in place or by rename, or send SIGHUP). Run-time options change in place; anything else switches to a new graph with files kept open (graft state shows lastVolfileError if a volfile is refused).") { foreground, options, volfile, log, timeout, places };
        cmd.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var opts = parse.GetValue(options);
            if (!MountOptionParser.TryParse(opts, out var settings, out var problem))
            {
                error.WriteLine("graft mount: " + problem);
                return 2;
            }
            var given = parse.GetValue(places)!;
            var mp = Daemons.FullPath(given[^1]);
            var spec = given.Length == 2 ? given[0] : null;
            if ((spec is null) == (parse.GetValue(volfile) is null))
            {
                error.WriteLine("graft mount: give either HOST[:PORT]:/VOLUME or --volfile FILE, and the mount point");
                return 2;
            }
            if (spec is null && settings.UsesTls)
            {
                error.WriteLine("graft mount: tls options are for HOST:/VOLUME mounts; a volfile names its bricks' tls files itself (protocol/client tls-cert, tls-key, tls-ca)");
                return 2;
            }
            var vf = spec ?? parse.GetValue(volfile)!.FullName;
            var bound = TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout)));
            if (parse.GetValue(foreground))
            {
                using var loggers = LoggerFactory.Create(b => b
                    .SetMinimumLevel(LogLevel.Information)
                    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                    .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                    .AddFilter("Microsoft", LogLevel.Warning));
                using var metrics = settings.Metrics is { } at ? MetricsExport.Start(at, Graft.Mount.MountMetrics.MeterName, "graft-mount", out problem) : null;
                if (settings.Metrics is not null && metrics is null) { error.WriteLine("graft mount: " + problem); return 1; }
                if (metrics is not null) output.WriteLine($"metrics on {metrics.Url}");
                var daemon = new MountDaemonOptions(vf, mp, settings)
                {
                    ChildUpTimeout = bound, MetricsUrl = metrics?.Url,
                    DumpDirectory = Path.GetDirectoryName(parse.GetValue(log)?.FullName) ?? Daemons.DefaultLogDir,
                };
                if (spec is not null)
                {
                    var sub = await MountFromDaemon.SubscribeAsync(spec, mp, settings, loggers, error, ct);
                    if (sub is null) return 1;
                    daemon = daemon with { VolfilePath = sub.Name, Source = sub, InitialVolfile = sub.InitialText };
                    try { return await MountDaemon.RunAsync(daemon, registry(), loggers, output, error); }
                    finally
                    {
                        sub.Dispose();
                        try { File.Delete(sub.SecretFile); } catch (IOException) { } // the credentials go with the mount
                    }
                }
                return await MountDaemon.RunAsync(daemon, registry(), loggers, output, error);
            }
            if (!Directory.Exists(mp)) { error.WriteLine($"graft mount: {mp}: no such directory"); return 1; }
            if (spec is null)
            {
                if (!File.Exists(vf)) { error.WriteLine($"graft mount: {vf}: no such file"); return 1; }
                // Checked here too, so the refusal is said at once rather than through the daemon's log.
                try
                {
                    if (!TrustedVolfile.TryRead(vf, out _, out var refusal)) { error.WriteLine($"graft mount: {vf}: refused: {refusal}"); return 1; }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    error.WriteLine($"graft mount: {vf}: cannot read: {e.Message}");
                    return 1;
                }
            }
            else if (!MountFromDaemon.TryParseSpec(spec, out _, out _, out var why)) { error.WriteLine("graft mount: " + why); return 2; }
            if (FuseMount.FindDevice(mp) is not null)
            {
                error.WriteLine($"graft mount: something is already mounted on {mp} (graft umount {mp} first)");
                return 1;
            }
            var logFile = parse.GetValue(log)?.FullName ?? Path.Combine(Daemons.DefaultLogDir, $"mount-{Daemons.Slug(mp)}.log");
            var code = StartDetached(mp, vf, opts, logFile, bound, error, out var pid);
            if (code == 0) output.WriteLine($"mounted {mp} (pid {pid}, log {logFile}{(Daemons.MetricsUrlOf(Daemons.QueryState(mp, TimeSpan.FromSeconds(5))) is { } url ? ", metrics " + url : "")})");
            return code;
        });
        return cmd;
    }

    /// <summary>
    /// Starts `graft mount -f` detached and waits (bounded) until it answers `state` on its control
    /// socket with its own pid — which it opens only after the kernel's INIT, so the mount is usable.
    /// </summary>
    internal static int StartDetached(string mp, string volfile, string? options, string log, TimeSpan bound, TextWriter error, out int pid)
    {
        var args = new List<string> { "mount", "-f", "--timeout", ((int)bound.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        // A daemon's volume (HOST[:PORT]:/VOLUME) or a volfile path.
        if (MountFromDaemon.TryParseSpec(volfile, out _, out _, out _)) args.Add(volfile);
        else { args.Add("--volfile"); args.Add(volfile); }
        if (!string.IsNullOrEmpty(options)) { args.Add("-o"); args.Add(options); }
        args.Add("--log"); args.Add(log);   // the daemon's state dumps go beside its log
        args.Add(mp);
        var from = Daemons.LogLength(log);
        using var p = Daemons.StartDetached(log, args);
        pid = p.Id;
        // The daemon's own child-up wait is `bound`; give it that plus time to start and mount.
        var deadline = Stopwatch.StartNew();
        var limit = bound + TimeSpan.FromSeconds(30);
        while (deadline.Elapsed < limit)
        {
            if (p.HasExited)
            {
                var said = Daemons.LogSince(log, from);
                error.WriteLine($"graft mount: the mount daemon exited with code {p.ExitCode}:");
                error.WriteLine(said.Length > 0 ? said : "(it wrote nothing; log " + log + ")");
                return 1;
            }
            if (Daemons.PidOf(Daemons.QueryState(mp, TimeSpan.FromSeconds(1))) == p.Id) return 0;
            Thread.Sleep(25);
        }
        error.WriteLine($"graft mount: {mp} did not answer within {Daemons.Seconds(limit)}; stopping the daemon (log {log})");
        Daemons.Stop(p.Id, TimeSpan.FromSeconds(10));
        return 1;
    }

    public static Command CreateUmount()
    {
        var mountPoint = new Argument<DirectoryInfo>("MOUNTPOINT");
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the daemon to exit.", DefaultValueFactory = _ => 30 };
        var cmd = new Command("umount", "Unmount a graft mount (lazily if files are still open) and wait for its daemon to exit.") { mountPoint, timeout };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var mp = Daemons.FullPath(parse.GetValue(mountPoint)!.FullName);
            return Unmount(mp, TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout))), output, error, "graft umount");
        });
        return cmd;
    }

    /// <summary>Unmounts <paramref name="mp"/> and waits (bounded) for its daemon, if any answers, to exit.</summary>
    internal static int Unmount(string mp, TimeSpan bound, TextWriter output, TextWriter error, string who)
    {
        var pid = Daemons.PidOf(Daemons.QueryState(mp, TimeSpan.FromSeconds(2)));
        var type = Daemons.MountTypeAt(mp);
        if (type is not null && type != "fuse.graft")
        {
            error.WriteLine($"{who}: {mp} is a {type} mount, not a graft one; not touching it");
            return 1;
        }
        if (type is null)
        {
            if (pid == 0) { error.WriteLine($"{who}: {mp} is not mounted"); return 1; }
        }
        else
        {
            var err = FuseMount.Unmount(mp);
            if (err != Errno.OK) { error.WriteLine($"{who}: cannot unmount {mp}: {err}"); return 1; }
        }
        if (pid != 0 && !Daemons.WaitExit(pid, bound))
        {
            output.WriteLine($"{mp} detached; files are still open on it, and its daemon (pid {pid}) exits when they are closed");
            return 0;
        }
        output.WriteLine($"unmounted {mp}");
        return 0;
    }

    public static Command CreateState()
    {
        var mountPoint = new Argument<DirectoryInfo>("MOUNTPOINT");
        var cmd = new Command("state", "Print a mount daemon's state (graphs, open files, counters) as JSON.") { mountPoint };
        cmd.SetAction(parse =>
        {
            var mp = Daemons.FullPath(parse.GetValue(mountPoint)!.FullName);
            var json = Daemons.QueryState(mp, TimeSpan.FromSeconds(5));
            if (json is null)
            {
                parse.InvocationConfiguration.Error.WriteLine(
                    $"graft state: no graft mount daemon answers for {mp} (socket {ControlClient.SocketPathFor(mp)})");
                return 1;
            }
            parse.InvocationConfiguration.Output.WriteLine(json);
            return 0;
        });
        return cmd;
    }
}
