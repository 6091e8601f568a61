using System.Diagnostics;
using System.Globalization;
using Graft.Client;
using Graft.Core;
using Graft.NetBench;

// Graft.NetBench: the same I/O through the library front end (Volume, GraftFileStream) on two
// graphs in one run: "local" (storage/posix in this process) and "net" (protocol/client over
// loopback to a `graft brick` process serving a directory on the same filesystem).
// Usage: Graft.NetBench --dir DIR [--size-mb 1024] [--runs 5] [--ops 20000] [--stats 20000]
var o = BenchOptions.Parse(args);
if (o is null) return 2;
Directory.CreateDirectory(o.Dir);
var results = new Dictionary<string, List<Run>>();
foreach (var mode in new[] { "local", "net" }) results[mode] = [];

await using (var local = await Target.LocalAsync(Path.Combine(o.Dir, "local-brick")))
await using (var net = await Target.NetAsync(Path.Combine(o.Dir, "net-brick")))
{
    for (int r = 0; r < o.Runs; r++)
    {
        // Alternate which goes first, so neither always gets the fresher page cache or disk.
        foreach (var t in r % 2 == 0 ? new[] { local, net } : new[] { net, local })
        {
            var run = await Workload.RunAsync(t.Volume, o);
            results[t.Name].Add(run);
            Console.Error.WriteLine($"run {r + 1}/{o.Runs} {t.Name,-5} {run}");
        }
    }
}

double Med(string mode, Func<Run, double> f)
{
    var v = results[mode].Select(f).Order().ToArray();
    return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
}

var rows = new (string Name, Func<Run, double> F, string Unit, bool HigherBetter)[]
{
    ("1 MiB seq write + fsync", r => r.SeqWriteMBs, "MB/s", true),
    ("1 MiB seq read (cold)", r => r.SeqReadMBs, "MB/s", true),
    ("4 KiB random read", r => r.RandReadOps, "ops/s", true),
    ("4 KiB random write", r => r.RandWriteOps, "ops/s", true),
    ("stat(path) p50", r => r.StatP50Us, "µs", false),
    ("stat(path) p99", r => r.StatP99Us, "µs", false),
    ("fstat p50", r => r.FstatP50Us, "µs", false),
    ("fstat p99", r => r.FstatP99Us, "µs", false),
};
Console.WriteLine($"Graft.NetBench: {o.SizeMb} MiB file, {o.Ops} random ops, {o.Stats} stats; medians of {o.Runs} runs; library front end");
Console.WriteLine();
Console.WriteLine("| measure | local storage/posix | protocol over loopback | net / local |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var (name, f, unit, _) in rows)
{
    double l = Med("local", f), n = Med("net", f);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {l:0.#} {unit} | {n:0.#} {unit} | {n / l:0.00}× |"));
}
return 0;
