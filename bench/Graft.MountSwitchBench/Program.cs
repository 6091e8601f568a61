using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Graft.Mount.Control;

// Graft.MountSwitchBench: graph switches of a live mount, measured from outside as an operator
// and applications see them.
//   latency MNT VOLFILE COUNT
//       COUNT times: insert or remove a debug/faults layer in VOLFILE and time until the mount's
//       activeGeneration changes (polled on the control socket). Prints p50/p99/max in ms.
//   writers DIR WRITERS SECONDS [MNT VOLFILE]
//       WRITERS threads append 64-byte records to their own O_APPEND file in DIR (fsync every 8)
//       for SECONDS; with MNT and VOLFILE the volfile is toggled continuously meanwhile (a switch
//       storm). Prints write-latency p50/p99/max in µs and the number of switches.
var inv = CultureInfo.InvariantCulture;
switch (args.FirstOrDefault())
{
    case "latency" when args.Length == 4:
    {
        var toggler = new Toggler(args[1], args[2]);
        var ms = new List<double>();
        for (int i = 0; i < int.Parse(args[3], inv); i++) ms.Add(toggler.ToggleAndWait().TotalMilliseconds);
        Console.WriteLine(string.Create(inv, $"switch-latency-ms p50 {Pct(ms, 50):F1} p99 {Pct(ms, 99):F1} max {ms.Max():F1} n {ms.Count}"));
        return 0;
    }
    case "writers" when args.Length is 4 or 6:
    {
        int writers = int.Parse(args[2], inv);
        var seconds = double.Parse(args[3], inv);
        using var stop = new CancellationTokenSource();
        int switches = 0;
        var storm = args.Length == 6 ? Task.Run(() =>
        {
            var t = new Toggler(args[4], args[5]);
            while (!stop.IsCancellationRequested) { t.ToggleAndWait(); switches++; Thread.Sleep(20); }
        }) : Task.CompletedTask;
        var lat = new List<double>[writers];
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() => lat[w] = Append(Path.Combine(args[1], $"lat{w}"), stop.Token))).ToArray();
        foreach (var th in threads) th.Start();
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        stop.Cancel();
        foreach (var th in threads) th.Join();
        storm.Wait(TimeSpan.FromSeconds(60));
        var all = lat.SelectMany(l => l).ToList();
        Console.WriteLine(string.Create(inv, $"write-latency-us p50 {Pct(all, 50):F0} p99 {Pct(all, 99):F0} max {all.Max():F0} writes {all.Count} switches {switches}"));
        for (int w = 0; w < writers; w++) File.Delete(Path.Combine(args[1], $"lat{w}"));
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: latency MNT VOLFILE COUNT | writers DIR WRITERS SECONDS [MNT VOLFILE]");
        return 2;
}

static double Pct(List<double> v, double p)
{
    var s = v.OrderBy(x => x).ToList();
    return s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Count) - 1, 0, s.Count - 1)];
}

static List<double> Append(string path, CancellationToken stop)
{
    const int O_WRONLY = 1, O_CREAT = 0x40, O_APPEND = 0x400;
    int fd = Libc.open(path, O_WRONLY | O_CREAT | O_APPEND, 0x1A4);
    if (fd < 0) throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
    var rec = new byte[64];
    var lat = new List<double>(1 << 16);
    long n = 0;
    while (!stop.IsCancellationRequested)
    {
        long t0 = Stopwatch.GetTimestamp();
        if (Libc.write(fd, rec, rec.Length) != rec.Length) throw new IOException($"write: errno {Marshal.GetLastPInvokeError()}");
        lat.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
        if (++n % 8 == 0 && Libc.fsync(fd) != 0) throw new IOException($"fsync: errno {Marshal.GetLastPInvokeError()}");
    }
    Libc.close(fd);
    return lat;
}

/// <summary>Inserts or removes a debug/faults layer at the top of a mount's volfile and waits for the switch.</summary>
sealed class Toggler(string mnt, string volfile)
{
    // Without any layer an earlier run left in (a storm can stop on either side).
    private readonly string _original = Strip(File.ReadAllText(volfile));
    private bool _faults = File.ReadAllText(volfile) != Strip(File.ReadAllText(volfile));

    private static string Strip(string text)
    {
        int i = text.IndexOf("\n\nvolume bench-faults", StringComparison.Ordinal);
        return i < 0 ? text : text[..i] + "\n";
    }
    public TimeSpan ToggleAndWait()
    {
        var socket = ControlClient.SocketPathFor(mnt);
        long before = Generation(socket);
        _faults = !_faults;
        var top = _original.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("volume ", StringComparison.Ordinal))[7..].Trim();
        var text = _faults ? _original.TrimEnd() + $"\n\nvolume bench-faults\n    type debug/faults\n    subvolumes {top}\nend-volume\n" : _original;
        var sw = Stopwatch.StartNew();
        File.WriteAllText(volfile, text);
        while (Generation(socket) <= before)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("no switch within 30 s");
            Thread.Sleep(1);
        }
        return sw.Elapsed;
    }

    private static long Generation(string socket)
    {
        using var doc = JsonDocument.Parse(ControlClient.Send(socket, "state", TimeSpan.FromSeconds(5)));
        return doc.RootElement.GetProperty("activeGeneration").GetInt64();
    }
}

static partial class Libc
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte[] buf, nint count);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);
}
