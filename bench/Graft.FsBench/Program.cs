using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

// Graft.FsBench: one phase of the filesystem benchmark against a directory, through ordinary
// POSIX calls, so the same code measures a native directory and a Graft mount alike.
// Usage: Graft.FsBench PHASE DIR [--size-mb N] [--files N]
//   seqwrite  write DIR/big (1 MiB blocks) then fsync      → MB/s
//   seqread   read DIR/big sequentially (caller drops caches) → MB/s
//   create    create N files of 4 KiB in DIR/small          → files/s
//   stat      stat them (caller drops caches)               → stats/s
//   unlink    unlink them and the directory                 → files/s
// Prints one line: "PHASE VALUE UNIT SECONDS".

if (args.Length < 2) { Console.Error.WriteLine("usage: Graft.FsBench seqwrite|seqread|create|stat|unlink DIR [--size-mb N] [--files N]"); return 2; }
var phase = args[0];
var dir = args[1];
long sizeMb = 1024;
int files = 5000;
for (int i = 2; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--size-mb": sizeMb = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--files": files = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

var big = Path.Combine(dir, "big");
var smallDir = Path.Combine(dir, "small");
var sw = Stopwatch.StartNew();
double value;
string unit;
switch (phase)
{
    case "seqwrite":
    {
        var buf = new byte[1 << 20];
        Random.Shared.NextBytes(buf);
        using (var fs = new FileStream(big, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        {
            for (long i = 0; i < sizeMb; i++) fs.Write(buf);
            fs.Flush(flushToDisk: true);
        }
        value = sizeMb / sw.Elapsed.TotalSeconds; unit = "MB/s";
        break;
    }
    case "seqread":
    {
        var buf = new byte[1 << 20];
        long total = 0;
        using (var fs = new FileStream(big, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
        {
            int n;
            while ((n = fs.Read(buf)) > 0) total += n;
        }
        value = total / 1048576.0 / sw.Elapsed.TotalSeconds; unit = "MB/s";
        break;
    }
    case "create":
    {
        Directory.CreateDirectory(smallDir);
        var buf = new byte[4096];
        for (int i = 0; i < files; i++)
        {
            using var fs = new FileStream(Path.Combine(smallDir, "f" + i.ToString(CultureInfo.InvariantCulture)), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
            fs.Write(buf);
        }
        value = files / sw.Elapsed.TotalSeconds; unit = "files/s";
        break;
    }
    case "stat":
    {
        for (int i = 0; i < files; i++)
            if (Stat(Path.Combine(smallDir, "f" + i.ToString(CultureInfo.InvariantCulture))) != 0)
                throw new IOException($"stat f{i}: errno {Marshal.GetLastPInvokeError()}");
        value = files / sw.Elapsed.TotalSeconds; unit = "stats/s";
        break;
    }
    case "unlink":
    {
        for (int i = 0; i < files; i++) File.Delete(Path.Combine(smallDir, "f" + i.ToString(CultureInfo.InvariantCulture)));
        Directory.Delete(smallDir);
        value = files / sw.Elapsed.TotalSeconds; unit = "files/s";
        break;
    }
    default:
        Console.Error.WriteLine($"unknown phase {phase}"); return 2;
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase} {value:F1} {unit} {sw.Elapsed.TotalSeconds:F3}"));
return 0;

// A plain stat(2): File.Exists and FileInfo add work of their own that would blur the numbers.
static unsafe int Stat(string path)
{
    byte* buf = stackalloc byte[256];
    return StatNative(path, buf);
}

partial class Program
{
    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern unsafe int StatNative([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buf);
}
