using System.Diagnostics;
using System.Globalization;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Storage.Posix;

namespace Graft.NetBench;

/// <param name="Certs">A directory with ca.pem, brick.pem/.key and client.pem/.key: also measure the wire over TLS.</param>
internal sealed record BenchOptions(string Dir, int SizeMb, int Runs, int Ops, int Stats, string? Certs)
{
    public static BenchOptions? Parse(string[] args)
    {
        string? dir = null, certs = null;
        int size = 1024, runs = 5, ops = 20000, stats = 20000;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            int Int() => int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--dir": dir = args[i + 1]; break;
                case "--size-mb": size = Int(); break;
                case "--runs": runs = Int(); break;
                case "--ops": ops = Int(); break;
                case "--stats": stats = Int(); break;
                case "--tls-certs": certs = Path.GetFullPath(args[i + 1]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return null;
            }
        }
        if (dir is null) { Console.Error.WriteLine("usage: Graft.NetBench --dir DIR [--size-mb N] [--runs N] [--ops N] [--stats N] [--tls-certs DIR]"); return null; }
        return new BenchOptions(Path.GetFullPath(dir), size, runs, ops, stats, certs);
    }
}

internal sealed record Run(double SeqWriteMBs, double SeqReadMBs, double RandReadOps, double RandWriteOps,
                           double StatP50Us, double StatP99Us, double FstatP50Us, double FstatP99Us, double StatsPerSec, double FstatsPerSec)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"write {SeqWriteMBs:0} MB/s, read {SeqReadMBs:0} MB/s, randread {RandReadOps:0}/s, randwrite {RandWriteOps:0}/s, stat {StatsPerSec:0}/s p50 {StatP50Us:0.0} p99 {StatP99Us:0.0} µs, fstat {FstatsPerSec:0}/s p50 {FstatP50Us:0.0} p99 {FstatP99Us:0.0} µs");
}

/// <summary>A volume to measure, and what to tear down after.</summary>
internal sealed class Target : IAsyncDisposable
{
    private Process? _brick;
    public required string Name { get; init; }
    public required Volume Volume { get; init; }

    public static async Task<Target> LocalAsync(string dir)
    {
        Directory.CreateDirectory(dir);
        var g = Graph.Linear(1, (PosixTranslator.Spec, "local", new Dictionary<string, string> { ["directory"] = dir }));
        return new Target { Name = "local", Volume = await Volume.OpenAsync(g) };
    }

    /// <summary>
    /// A `graft brick` process and protocol/client to it: with a secret (plaintext, as `graft up` runs),
    /// or, with <paramref name="certs"/>, over TLS with client certificates and no secret.
    /// </summary>
    public static async Task<Target> NetAsync(string name, string dir, string? certs = null)
    {
        Directory.CreateDirectory(dir);
        var client = new Dictionary<string, string>();
        var args = new List<string> { Path.Combine(AppContext.BaseDirectory, "graft.dll"), "brick", "--dir", dir, "--port", "0", "--name", "bench" };
        if (certs is null)
        {
            var secret = Path.Combine(dir, "..", name + ".secret");
            File.WriteAllText(secret, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            args.AddRange(["--secret-file", secret]);
            client["secret-file"] = secret;
        }
        else
        {
            args.AddRange(["--tls-cert", Path.Combine(certs, "brick.pem"), "--tls-key", Path.Combine(certs, "brick.key"), "--tls-ca", Path.Combine(certs, "ca.pem")]);
            client["tls-cert"] = Path.Combine(certs, "client.pem");
            client["tls-key"] = Path.Combine(certs, "client.key");
            client["tls-ca"] = Path.Combine(certs, "ca.pem");
            client["tls-server-name"] = "localhost";
        }
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal)) throw new InvalidOperationException($"brick did not start: {line}");
        client["remote-host"] = "127.0.0.1";
        client["remote-port"] = line[(line.LastIndexOf(':') + 1)..];
        client["remote-subvolume"] = "bench";
        var g = Graph.Linear(1, (ProtocolClient.Spec, name, client));
        return new Target { Name = name, Volume = await Volume.OpenAsync(g), _brick = p };
    }

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        if (_brick is { } p)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
    }
}

internal static class Workload
{
    private const int Mb = 1 << 20;

    public static async Task<Run> RunAsync(Volume v, BenchOptions o)
    {
        const string path = "/big";
        var block = new byte[Mb];
        Random.Shared.NextBytes(block);

        // 1 MiB sequential write of the whole file, fsync included.
        var sw = Stopwatch.StartNew();
        await using (var s = await v.OpenAsync(path, FileMode.Create, FileAccess.ReadWrite))
        {
            for (int i = 0; i < o.SizeMb; i++) await s.WriteAsync(block);
            await s.FsyncAsync();
        }
        double write = o.SizeMb / sw.Elapsed.TotalSeconds;

        // Cold sequential read: the brick's page cache dropped first.
        DropCaches();
        sw.Restart();
        long total = 0;
        await using (var s = await v.OpenAsync(path, FileMode.Open, FileAccess.Read))
        {
            int n;
            while ((n = await s.ReadAsync(block)) > 0) total += n;
        }
        double read = total / (double)Mb / sw.Elapsed.TotalSeconds;
        if (total != (long)o.SizeMb * Mb) throw new InvalidOperationException($"read {total} bytes back");

        // 4 KiB random reads and writes at 4 KiB-aligned offsets (queue depth 1).
        var small = new byte[4096];
        var rng = new Random(42);
        long blocks = (long)o.SizeMb * Mb / 4096;
        double rr, rw;
        await using (var s = await v.OpenAsync(path, FileMode.Open, FileAccess.ReadWrite))
        {
            sw.Restart();
            for (int i = 0; i < o.Ops; i++) { s.Position = rng.NextInt64(blocks) * 4096; await s.ReadExactlyAsync(small); }
            rr = o.Ops / sw.Elapsed.TotalSeconds;
            sw.Restart();
            for (int i = 0; i < o.Ops; i++) { s.Position = rng.NextInt64(blocks) * 4096; await s.WriteAsync(small); }
            rw = o.Ops / sw.Elapsed.TotalSeconds;

            var fst = new double[o.Stats];
            sw.Restart();
            for (int i = 0; i < o.Stats; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                await s.StatAsync();
                fst[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            }
            double fstatsPerSec = o.Stats / sw.Elapsed.TotalSeconds;
            Array.Sort(fst);
            var st = new double[o.Stats];
            sw.Restart();
            for (int i = 0; i < o.Stats; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                await v.StatAsync(path);
                st[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            }
            double statsPerSec = o.Stats / sw.Elapsed.TotalSeconds;
            Array.Sort(st);
            return new Run(write, read, rr, rw, P(st, 0.50), P(st, 0.99), P(fst, 0.50), P(fst, 0.99), statsPerSec, fstatsPerSec);
        }
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    /// <summary>sync, then drop the page cache (needs root; the bench refuses to quote cold reads without it).</summary>
    private static void DropCaches()
    {
        using (var p = Process.Start("sync")) p.WaitForExit();
        File.WriteAllText("/proc/sys/vm/drop_caches", "3");
    }
}
