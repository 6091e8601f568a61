using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Graft.Fuse.Raw;
using Graft.Mount.Switching;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft up [DIR] [MOUNTPOINT]` and `graft down [MOUNTPOINT]`: a single-node volume in one command. A
/// brick process (`graft brick`, detached, with its log and a pid file) exports DIR on loopback; a client
/// volfile (protocol/client) points at it; the volume is mounted on MOUNTPOINT with the default options.
/// Defaults live under $GRAFT_HOME/var (the clone, when run through ./graft): var/brick, var/mnt, pid
/// files and volfiles in var/run, logs in var/log.
/// </summary>
public static class UpCommand
{
    static string VarDir => Path.Combine(Daemons.Home, "var");
    static string DefaultBrick => Path.Combine(VarDir, "brick");
    static string DefaultMount => Path.Combine(VarDir, "mnt");

    /// <summary>The files one `up` leaves behind, keyed by the mount point.</summary>
    sealed record Layout(string MountPoint)
    {
        public string Slug => Daemons.Slug(MountPoint);
        public string RunDir => Path.Combine(VarDir, "run");
        public string LogDir => Path.Combine(VarDir, "log");
        public string BrickPid => Path.Combine(RunDir, Slug + ".brick.pid");
        /// <summary>The shared secret brick and mount prove to each other (0600; made by up, removed by down).</summary>
        public string Secret => Path.Combine(RunDir, Slug + ".secret");
        public string Volfile => Path.Combine(RunDir, Slug + ".vol");
        public string BrickLog => Path.Combine(LogDir, Slug + ".brick.log");
        public string MountLog => Path.Combine(LogDir, Slug + ".mount.log");
    }

    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo?>("DIR") { Description = "Directory the brick exports (default var/brick).", Arity = ArgumentArity.ZeroOrOne };
        var mountPoint = new Argument<DirectoryInfo?>("MOUNTPOINT") { Description = "Where to mount it (default var/mnt).", Arity = ArgumentArity.ZeroOrOne };
        var options = new Option<string?>("-o", "--options") { Description = "Mount options, as for graft mount (metrics=ADDR:PORT serves the mount's metrics)." };
        var brickMetrics = new Option<string?>("--brick-metrics") { Description = "Serve the brick's metrics on http://ADDR:PORT/metrics, as graft brick --metrics (docs/metrics.md)." };
        brickMetrics.Validators.Add(r => { if (!Graft.Core.Diagnostics.MetricsAddress.TryParse(r.GetValueOrDefault<string?>(), out _, out var why)) r.AddError("--brick-metrics " + why); });
        var brickIoThreads = new Option<int?>("--brick-io-threads") { Description = "Threads the brick serves fops on, as graft brick --io-threads (default 0: the .NET thread pool)." };
        brickIoThreads.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0 or > 1024) r.AddError("--brick-io-threads must be between 0 and 1024"); });
        var brickInline = BrickCommand.OnOff("--brick-inline-fops", "As graft brick --inline-fops: serve cheap fops on the connection's receive thread (default on).");
        var brickReceive = BrickCommand.OnOff("--brick-receive-threads", "As graft brick --receive-threads: a receive thread per connection (default on).");
        var brickWriteSplice = new Option<string?>("--brick-write-splice") { Description = "As graft brick --write-splice: the data of writes of at least this size goes from the socket into the file through a pipe (default 64KB; 0: never)." };
        var brickReadSplice = new Option<string?>("--brick-read-splice") { Description = "As graft brick --read-splice: reads of at least this size are spliced from the page cache to the socket (default 64KB; 0: never)." };
        var brickDropBehind = BrickCommand.OnOff("--brick-drop-behind", "As graft brick --drop-behind: drop a sequential writer's chunks from the brick's page cache once they are on disk (default on).");
        var cmd = new Command("up", "Start a brick on DIR and mount it: a single-node volume in one command. SIGUSR1 to either daemon writes a state dump to var/log.")
        {
            dir, mountPoint, options, brickMetrics, brickIoThreads, brickInline, brickReceive, brickReadSplice, brickDropBehind, brickWriteSplice,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var brickDir = Daemons.FullPath(parse.GetValue(dir)?.FullName ?? DefaultBrick);
            var mp = Daemons.FullPath(parse.GetValue(mountPoint)?.FullName ?? DefaultMount);
            List<string> brickFlags = [];
            if (parse.GetValue(brickInline) is { } inl) brickFlags.AddRange(["--inline-fops", inl]);
            if (parse.GetValue(brickReceive) is { } rt) brickFlags.AddRange(["--receive-threads", rt]);
            if (parse.GetValue(brickReadSplice) is { } rs) brickFlags.AddRange(["--read-splice", rs]);
            if (parse.GetValue(brickDropBehind) is { } db) brickFlags.AddRange(["--drop-behind", db]);
            if (parse.GetValue(brickWriteSplice) is { } ws) brickFlags.AddRange(["--write-splice", ws]);
            return Up(brickDir, mp, parse.GetValue(options), parse.GetValue(brickMetrics), parse.GetValue(brickIoThreads), brickFlags, output, error);
        });
        return cmd;
    }

    public static Command CreateDown()
    {
        var mountPoint = new Argument<DirectoryInfo?>("MOUNTPOINT") { Description = "The mount point given to graft up (default var/mnt).", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("down", "Undo graft up: unmount, stop the brick, remove its pid file, volfile and secret.") { mountPoint };
        cmd.SetAction(parse =>
        {
            var mp = Daemons.FullPath(parse.GetValue(mountPoint)?.FullName ?? DefaultMount);
            return Down(mp, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return cmd;
    }

    static int Up(string brickDir, string mp, string? options, string? brickMetrics, int? brickIoThreads, List<string> brickFlags, TextWriter output, TextWriter error)
    {
        var l = new Layout(mp);
        if (BrickPidIfAlive(l) is int running)
        {
            error.WriteLine($"graft up: already up: {mp} is served by brick pid {running} (graft down {mp} to stop it)");
            return 1;
        }
        if (FuseMount.FindDevice(mp) is not null)
        {
            error.WriteLine($"graft up: something is already mounted on {mp} (graft umount {mp} or graft down {mp} first)");
            return 1;
        }
        if (brickDir == mp || brickDir.StartsWith(mp + "/", StringComparison.Ordinal) || mp.StartsWith(brickDir + "/", StringComparison.Ordinal))
        {
            error.WriteLine($"graft up: the brick directory and the mount point must not contain each other ({brickDir}, {mp})");
            return 2;
        }
        Directory.CreateDirectory(brickDir);
        Directory.CreateDirectory(mp);
        // The mount daemon follows the volfile in RunDir only if nobody else can write it or its directories:
        // explicit modes, whatever the umask.
        Directory.CreateDirectory(l.RunDir, TrustedVolfile.DirectoryMode);
        Directory.CreateDirectory(l.LogDir);

        var name = BrickName(brickDir);
        WriteSecret(l.Secret);
        var from = Daemons.LogLength(l.BrickLog);
        List<string> brickArgs = ["brick", "--dir", brickDir, "--name", name, "--port", "0", "--listen", "127.0.0.1", "--secret-file", l.Secret, "--dump-dir", l.LogDir];
        if (brickMetrics is not null) brickArgs.AddRange(["--metrics", brickMetrics]);
        if (brickIoThreads is { } io) brickArgs.AddRange(["--io-threads", io.ToString(CultureInfo.InvariantCulture)]);
        brickArgs.AddRange(brickFlags);
        var brick = Daemons.StartDetached(l.BrickLog, brickArgs);
        int brickPid = brick.Id;
        var port = WaitListening(brick, l.BrickLog, from, TimeSpan.FromSeconds(60), out var why);
        brick.Dispose();
        if (port == 0)
        {
            error.WriteLine("graft up: the brick did not start: " + why);
            Daemons.Stop(brickPid, TimeSpan.FromSeconds(10));
            Cleanup(l);
            return 1;
        }
        File.WriteAllText(l.BrickPid, brickPid.ToString(CultureInfo.InvariantCulture) + "\n");
        TrustedVolfile.Write(l.Volfile, ClientVolfile(name, port, l.Secret));

        var code = MountCommand.StartDetached(mp, l.Volfile, options, l.MountLog, TimeSpan.FromSeconds(30), error, out var mountPid);
        if (code != 0)
        {
            Daemons.Stop(brickPid, TimeSpan.FromSeconds(10));
            Cleanup(l);
            return code;
        }
        output.WriteLine($"up: brick {brickDir} (pid {brickPid}, 127.0.0.1:{port}) mounted on {mp} (pid {mountPid})");
        output.WriteLine($"    volfile {l.Volfile}; logs {l.BrickLog}, {l.MountLog}; graft down {mp} to stop");
        return 0;
    }

    static int Down(string mp, TextWriter output, TextWriter error)
    {
        var l = new Layout(mp);
        bool mounted = FuseMount.FindDevice(mp) is not null || Daemons.QueryState(mp, TimeSpan.FromSeconds(2)) is not null;
        var brickPid = BrickPidIfAlive(l);
        if (!mounted && brickPid is null && !File.Exists(l.BrickPid))
        {
            error.WriteLine($"graft down: nothing is up at {mp}");
            return 1;
        }
        int code = 0;
        if (mounted && MountCommand.Unmount(mp, TimeSpan.FromSeconds(30), output, error, "graft down") != 0) code = 1;
        if (brickPid is int pid)
        {
            if (Daemons.Stop(pid, TimeSpan.FromSeconds(20))) output.WriteLine($"stopped brick (pid {pid})");
            else { error.WriteLine($"graft down: brick pid {pid} did not stop"); code = 1; }
        }
        if (code == 0) Cleanup(l);
        return code;
    }

    static void Cleanup(Layout l)
    {
        foreach (var f in new[] { l.BrickPid, l.Volfile, l.Secret })
        {
            try { File.Delete(f); } catch (IOException) { }
        }
    }

    /// <summary>The pid in the pid file if that process is still our brick (not a reused pid).</summary>
    static int? BrickPidIfAlive(Layout l)
    {
        if (!File.Exists(l.BrickPid)) return null;
        if (!int.TryParse(File.ReadAllText(l.BrickPid).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return null;
        var cmd = Daemons.CommandLine(pid);
        return Daemons.Alive(pid) && cmd.Contains(" brick ", StringComparison.Ordinal) ? pid : null;
    }

    /// <summary>The brick's name clients ask for: the directory's last component, made volfile-safe.</summary>
    static string BrickName(string dir)
    {
        var last = Path.GetFileName(dir);
        var sb = new StringBuilder();
        foreach (var c in last) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        return sb.Length == 0 ? "brick" : sb.ToString();
    }

    /// <summary>
    /// A fresh random secret for this brick and its mount, readable by root only. Without one the brick
    /// would squash the mount's root (it cannot tell the mount from any local process that connects);
    /// with it the mount is trusted and behaves as a local filesystem for root. Made anew by each up
    /// (a leftover from a crash is replaced) and removed by down, so none outlives its brick.
    /// </summary>
    static void WriteSecret(string path)
    {
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        // Created 0600, never wider for a moment. (Graft runs on Linux only; the test keeps the analyzer content.)
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var f = new FileStream(path, options);
        f.Write(Encoding.ASCII.GetBytes(Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n"));
    }

    /// <summary>
    /// protocol/client under performance/write-behind (as the management daemon generates by default) under
    /// performance/md-cache under performance/nl-cache: the brick does locking and storage; write-behind takes each write's round trip off
    /// the writer's path (close and fsync still wait for it and report its failure: docs/mount-session.md);
    /// md-cache answers the kernel's getattr of a directory after each create and unlink in it from the
    /// attributes the reply carried; nl-cache on top answers the kernel's lookup of a new name before each create
    /// in a directory this mount made or listed whole, kept true by the brick's notices. `option enable off` in
    /// any of them switches it off in place; removing the volume switches to a graph without it.
    /// </summary>
    static string ClientVolfile(string brick, int port, string secret) => string.Create(CultureInfo.InvariantCulture,
        $"# written by graft up; the volume is the last volume in the file\n" +
        $"volume {brick}-client\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {port}\n" +
        $"    option remote-subvolume {brick}\n    option secret-file {secret}\nend-volume\n\n" +
        $"volume {brick}-write-behind\n    type performance/write-behind\n    subvolumes {brick}-client\nend-volume\n\n" +
        $"volume {brick}-md-cache\n    type performance/md-cache\n    subvolumes {brick}-write-behind\nend-volume\n\n" +
        $"volume {brick}-nl-cache\n    type performance/nl-cache\n    subvolumes {brick}-md-cache\nend-volume\n");

    /// <summary>Waits for the brick's "listening ADDR:PORT" line in its log; returns the port, or 0 with the reason.</summary>
    static int WaitListening(Process brick, string log, long from, TimeSpan bound, out string why)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < bound)
        {
            foreach (var line in Daemons.LogSince(log, from).Split('\n'))
            {
                if (line.StartsWith("listening ", StringComparison.Ordinal)
                    && int.TryParse(line[(line.LastIndexOf(':') + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
                {
                    why = "";
                    return port;
                }
            }
            if (brick.HasExited)
            {
                why = $"it exited with code {brick.ExitCode}:\n{Daemons.LogSince(log, from)}";
                return 0;
            }
            Thread.Sleep(25);
        }
        why = $"it did not listen within {Daemons.Seconds(bound)} (log {log})";
        return 0;
    }
}
