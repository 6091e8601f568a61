using System.Globalization;
using Graft.NetBench;

// Graft.NetBench: the same I/O through the library front end (Volume, GraftFileStream) on graphs
// measured in one run: "local" (storage/posix in this process), "net" (protocol/client over loopback
// to a `graft brick` process serving a directory on the same filesystem, with a secret as `graft up`
// runs it) and, given --tls-certs, "tls" (the same over TLS 1.3 with client certificates).
// Usage: Graft.NetBench --dir DIR [--size-mb 1024] [--runs 5] [--ops 20000] [--stats 20000] [--tls-certs DIR]
var o = BenchOptions.Parse(args);
if (o is null) return 2;
Directory.CreateDirectory(o.Dir);
var targets = new List<Target>();
try
{
    targets.Add(await Target.LocalAsync(Path.Combine(o.Dir, "local-brick")));
    targets.Add(await Target.NetAsync("net", Path.Combine(o.Dir, "net-brick")));
    if (o.Certs is not null) targets.Add(await Target.NetAsync("tls", Path.Combine(o.Dir, "tls-brick"), o.Certs));
    var results = targets.ToDictionary(t => t.Name, _ => new List<Run>());
    for (int r = 0; r < o.Runs; r++)
    {
        // Rotate which goes first, so none always gets the fresher page cache or disk.
        for (int i = 0; i < targets.Count; i++)
        {
            var t = targets[(i + r) % targets.Count];
            var run = await Workload.RunAsync(t.Volume, o);
            results[t.Name].Add(run);
            Console.Error.WriteLine($"run {r + 1}/{o.Runs} {t.Name,-5} {run}");
        }
    }
    Print(o, results);
}
finally
{
    foreach (var t in targets) await t.DisposeAsync();
}
return 0;

static void Print(BenchOptions o, Dictionary<string, List<Run>> results)
{
    double Med(string mode, Func<Run, double> f)
    {
        var v = results[mode].Select(f).Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
    var rows = new (string Name, Func<Run, double> F, string Unit)[]
    {
        ("1 MiB seq write + fsync", r => r.SeqWriteMBs, "MB/s"),
        ("1 MiB seq read (cold)", r => r.SeqReadMBs, "MB/s"),
        ("4 KiB random read", r => r.RandReadOps, "ops/s"),
        ("4 KiB random write", r => r.RandWriteOps, "ops/s"),
        ("stat(path)", r => r.StatsPerSec, "/s"),
        ("stat(path) p50", r => r.StatP50Us, "µs"),
        ("stat(path) p99", r => r.StatP99Us, "µs"),
        ("fstat", r => r.FstatsPerSec, "/s"),
        ("fstat p50", r => r.FstatP50Us, "µs"),
        ("fstat p99", r => r.FstatP99Us, "µs"),
    };
    bool tls = results.ContainsKey("tls");
    Console.WriteLine($"Graft.NetBench: {o.SizeMb} MiB file, {o.Ops} random ops, {o.Stats} stats; medians of {o.Runs} runs; library front end");
    Console.WriteLine();
    Console.WriteLine(tls ? "| measure | local storage/posix | protocol over loopback | net / local | over TLS | tls / net |"
                          : "| measure | local storage/posix | protocol over loopback | net / local |");
    Console.WriteLine(tls ? "|---|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|");
    foreach (var (name, f, unit) in rows)
    {
        double l = Med("local", f), n = Med("net", f);
        var line = string.Create(CultureInfo.InvariantCulture, $"| {name} | {l:0.#} {unit} | {n:0.#} {unit} | {n / l:0.00}× |");
        if (tls)
        {
            double t = Med("tls", f);
            line += string.Create(CultureInfo.InvariantCulture, $" {t:0.#} {unit} | {t / n:0.00}× |");
        }
        Console.WriteLine(line);
    }
}
