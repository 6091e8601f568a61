using System.Diagnostics;
using System.Globalization;
using Graft.Client;
using Graft.Core;
using Graft.SwitchBench;

// Graft.SwitchBench: what graph switching and retirement cost, through the library front end on
// protocol/client over loopback to a `graft brick` process (bench/retirement.sh runs it):
//   - memory per switch, amortised over 1,000 switches with 100 files held open and idle
//     (RSS and managed heap after a full collection, before and after);
//   - time from ApplyVolfileAsync to the new graph active, and from the switch to the old graph
//     destroyed, on that idle volume;
//   - 1 MiB sequential write MB/s with performance/write-behind on and off.
// Usage: Graft.SwitchBench --dir DIR [--runs 5] [--switches 1000] [--size-mb 256] [--files 100]
var o = Options.Parse(args);
if (o is null) return 2;
var inv = CultureInfo.InvariantCulture;

var perSwitchRss = new List<double>();
var perSwitchHeap = new List<double>();
var activate = new List<double>();
var destroyed = new List<double>();
var wbOn = new List<double>();
var wbOff = new List<double>();
long rssStart = 0, rssEnd = 0;

await using (var nv = await NetVolume.StartAsync(Path.Combine(o.Dir, "bench"), writeBehind: false))
{
    var streams = new List<GraftFileStream>();
    for (int i = 0; i < o.Files; i++)
    {
        var s = await nv.Volume.OpenAsync($"/idle{i}", OpenFlags.O_CREAT | OpenFlags.O_RDWR);
        await s.WriteAsync(new byte[] { (byte)i });
        streams.Add(s);
    }
    bool wb = false;
    async Task ManyAsync(int n)
    {
        for (int i = 0; i < n; i++)
        {
            wb = !wb;
            await nv.SwitchAsync(wb);
            // Retirement runs beside the switches; keep it in sight so this measures freeing.
            if (nv.Volume.Session.Graphs.Count > 8) await nv.WaitGraphsAsync(4, TimeSpan.FromSeconds(60));
        }
        await nv.WaitGraphsAsync(1, TimeSpan.FromSeconds(60));
    }

    await ManyAsync(o.Switches); // warm up: JIT, pools, thread pool size, runtime heaps (the first thousand grow RSS by ~20 MB)
    rssStart = Mem.RssKb();
    for (int r = 0; r < o.Runs; r++)
    {
        var (rss0, heap0) = await Mem.SettledAsync();
        var clock = Stopwatch.StartNew();
        await ManyAsync(o.Switches);
        var (rss1, heap1) = await Mem.SettledAsync();
        perSwitchRss.Add((rss1 - rss0) * 1024.0 / o.Switches);
        perSwitchHeap.Add((heap1 - heap0) / (double)o.Switches);
        Console.Error.WriteLine(string.Create(inv,
            $"run {r + 1}: {o.Switches} switches in {clock.Elapsed.TotalSeconds:0.0} s; RSS {rss0} → {rss1} kB, heap {heap0 / 1024} → {heap1 / 1024} kB"));

        // Switch latency and retirement latency, one switch at a time on the idle volume.
        for (int i = 0; i < 21; i++)
        {
            wb = !wb;
            var sw = Stopwatch.StartNew();
            await nv.SwitchAsync(wb);
            activate.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            await nv.WaitGraphsAsync(1, TimeSpan.FromSeconds(60));
            destroyed.Add(sw.Elapsed.TotalMilliseconds);
        }
    }
    rssEnd = Mem.RssKb();
    var st = nv.Volume.GetState();
    Console.Error.WriteLine($"state: switches {st.Counters.Switches}, destroyed {st.Counters.GraphsDestroyed}, forced {st.Counters.RetirementsForced}, migrations {st.Counters.FdMigrations}");
    foreach (var s in streams) await s.DisposeAsync();

    // 1 MiB sequential writes (and an fsync at the end), write-behind on and off, alternating.
    var block = new byte[1 << 20];
    Random.Shared.NextBytes(block);
    for (int r = 0; r < o.Runs; r++)
    {
        foreach (var on in r % 2 == 0 ? new[] { true, false } : new[] { false, true })
        {
            if (on != wb) { wb = on; await nv.SwitchAsync(wb); await nv.WaitGraphsAsync(1, TimeSpan.FromSeconds(60)); }
            var sw = Stopwatch.StartNew();
            await using (var s = await nv.Volume.OpenAsync("/big", FileMode.Create, FileAccess.Write))
            {
                for (int i = 0; i < o.SizeMb; i++) await s.WriteAsync(block);
                await s.FsyncAsync();
            }
            var mbs = o.SizeMb / sw.Elapsed.TotalSeconds;
            (on ? wbOn : wbOff).Add(mbs);
            Console.Error.WriteLine(string.Create(inv, $"write run {r + 1} write-behind {(on ? "on " : "off")}: {mbs:0} MB/s"));
            await nv.Volume.DeleteFileAsync("/big");
        }
    }
}

Console.WriteLine(string.Create(inv,
    $"Graft.SwitchBench: library front end, protocol/client over loopback to a brick process; {o.Files} idle open files; medians of {o.Runs} runs"));
Console.WriteLine();
Console.WriteLine("| measure | median | min | max | target |");
Console.WriteLine("|---|---:|---:|---:|---:|");
void Row(string name, List<double> v, string unit, string target, string fmt = "0.0") =>
    Console.WriteLine(string.Create(inv, $"| {name} | {v.Median().ToString(fmt, inv)} {unit} | {v.Min().ToString(fmt, inv)} | {v.Max().ToString(fmt, inv)} | {target} |"));
Row($"client RSS growth per switch (over {o.Switches})", perSwitchRss, "B", "≤ 10 kB");
Row($"managed heap growth per switch after full GC (over {o.Switches})", perSwitchHeap, "B", "≤ 10 kB");
Row("ApplyVolfileAsync → new graph active", activate, "ms", "≤ 50 ms", "0.00");
Row("switch → old graph destroyed (idle volume)", destroyed, "ms", "≤ 1 s");
Row("1 MiB seq write + fsync, write-behind on", wbOn, "MB/s", "", "0");
Row("1 MiB seq write + fsync, write-behind off", wbOff, "MB/s", "", "0");
Console.WriteLine();
Console.WriteLine(string.Create(inv, $"RSS after warm-up {rssStart / 1024.0:0.0} MB, after {o.Runs * (o.Switches + 21)} more switches {rssEnd / 1024.0:0.0} MB"));
return 0;

internal static class Mem
{
    /// <summary>Resident set size of this process in kB.</summary>
    public static long RssKb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
        return 0;
    }

    /// <summary>RSS and managed heap after full, compacting collections (and a moment for closed connections' loops to end).</summary>
    public static async Task<(long RssKb, long Heap)> SettledAsync()
    {
        await Task.Delay(200);
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return (RssKb(), GC.GetTotalMemory(forceFullCollection: false));
    }

    public static double Median(this List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}

internal sealed record Options(string Dir, int Runs, int Switches, int SizeMb, int Files)
{
    public static Options? Parse(string[] args)
    {
        string? dir = null;
        int runs = 5, switches = 1000, size = 256, files = 100;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            var v = args[i + 1];
            switch (args[i])
            {
                case "--dir": dir = v; break;
                case "--runs": runs = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--switches": switches = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--size-mb": size = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--files": files = int.Parse(v, CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return null;
            }
        }
        if (dir is null) { Console.Error.WriteLine("usage: Graft.SwitchBench --dir DIR [--runs 5] [--switches 1000] [--size-mb 256] [--files 100]"); return null; }
        return new Options(dir, runs, switches, size, files);
    }
}
