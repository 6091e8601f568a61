using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

// Graft.FsBench: one phase of the filesystem benchmark against a directory, through ordinary
// POSIX calls, so the same code measures a native directory and a Graft mount alike.
// Usage: Graft.FsBench PHASE DIR [--size-mb N] [--files N] [--jobs N]
//   seqwrite  write DIR/big (1 MiB blocks) then fsync      → MB/s
//   seqread   read DIR/big sequentially (caller drops caches) → MB/s
//   create    create N files of 4 KiB in DIR/small          → files/s
//   stat      stat them (caller drops caches)               → stats/s
//   unlink    unlink them and the directory                 → files/s
//   (create, stat, unlink with --jobs N > 1: N threads, each on its own N-th of the files in DIR/small/jK)
//   fcntl     N × (F_SETLK write lock on DIR/lockfile, F_SETLK unlock)  → µs per call
//   flock     N × (flock LOCK_EX|LOCK_NB, flock LOCK_UN)                 → µs per call
// Prints one line: "PHASE VALUE UNIT SECONDS"; the lock phases print
// "PHASE LOCK_P50 us SECONDS LOCK_P99 UNLOCK_P50 UNLOCK_P99" (each call timed on its own).
// seqwrite --cpu 1 appends the writing thread's own CPU seconds over the writes and the fsync, user then system
// (getrusage RUSAGE_THREAD) and the seconds the final fsync took: "seqwrite VALUE MB/s SECONDS USER SYS FSYNC". On a local filesystem SYS is what the kernel
// charges the writer for copying into the page cache and for the writeback fsync starts itself; the kernel's own
// flusher threads, when they got there first, are charged to nobody here.

if (args.Length < 2) { Console.Error.WriteLine("usage: Graft.FsBench seqwrite|seqread|create|stat|unlink|fcntl|flock DIR [--size-mb N] [--files N] [--iterations N] [--jobs N]"); return 2; }
var phase = args[0];
var dir = args[1];
long sizeMb = 1024;
int files = 5000;
int iterations = 2000;
int jobs = 1;
bool cpu = false;
for (int i = 2; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--size-mb": sizeMb = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--files": files = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--iterations": iterations = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--jobs": jobs = Math.Max(1, int.Parse(args[i + 1], CultureInfo.InvariantCulture)); break;
        case "--cpu": cpu = args[i + 1] != "0"; break;
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
        var (u0, s0) = ThreadCpu();
        double fsyncFrom;
        using (var fs = new FileStream(big, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        {
            for (long i = 0; i < sizeMb; i++) fs.Write(buf);
            fsyncFrom = sw.Elapsed.TotalSeconds;
            fs.Flush(flushToDisk: true);
        }
        var (u1, s1) = ThreadCpu();
        value = sizeMb / sw.Elapsed.TotalSeconds; unit = "MB/s";
        if (cpu)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase} {value:F1} {unit} {sw.Elapsed.TotalSeconds:F3} {u1 - u0:F3} {s1 - s0:F3} {sw.Elapsed.TotalSeconds - fsyncFrom:F3}"));
            return 0;
        }
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
        PerJob((jobDir, first, count) =>
        {
            Directory.CreateDirectory(jobDir);
            var buf = new byte[4096];
            for (int i = first; i < first + count; i++)
            {
                // No flock, no fstatfs: file locking is off for this program (Graft.FsBench.csproj), as cp and tar take none.
                using var fs = new FileStream(SmallFile(jobDir, i), FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite, 0);
                fs.Write(buf);
            }
        });
        value = files / sw.Elapsed.TotalSeconds; unit = "files/s";
        break;
    }
    case "stat":
    {
        PerJob((jobDir, first, count) =>
        {
            for (int i = first; i < first + count; i++)
                if (Stat(SmallFile(jobDir, i)) != 0)
                    throw new IOException($"stat {SmallFile(jobDir, i)}: errno {Marshal.GetLastPInvokeError()}");
        });
        value = files / sw.Elapsed.TotalSeconds; unit = "stats/s";
        break;
    }
    case "unlink":
    {
        PerJob((jobDir, first, count) =>
        {
            for (int i = first; i < first + count; i++) File.Delete(SmallFile(jobDir, i));
            if (jobDir != smallDir) Directory.Delete(jobDir);
        });
        Directory.Delete(smallDir);
        value = files / sw.Elapsed.TotalSeconds; unit = "files/s";
        break;
    }
    case "fcntl":
    case "flock":
    {
        var (lockUs, unlockUs) = LockLatency(Path.Combine(dir, "lockfile"), phase == "flock", iterations);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{phase} {Percentile(lockUs, 50):F1} us {sw.Elapsed.TotalSeconds:F3} {Percentile(lockUs, 99):F1} {Percentile(unlockUs, 50):F1} {Percentile(unlockUs, 99):F1}"));
        return 0;
    }
    default:
        Console.Error.WriteLine($"unknown phase {phase}"); return 2;
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase} {value:F1} {unit} {sw.Elapsed.TotalSeconds:F3}"));
return 0;

// One job works in DIR/small itself (the layout of single-job runs); N jobs each in DIR/small/jK on
// their own share of the files, in parallel threads, timed together.
void PerJob(Action<string, int, int> work)
{
    if (jobs == 1) { work(smallDir, 0, files); return; }
    var threads = new Thread[jobs];
    Exception? failed = null;
    for (int k = 0; k < jobs; k++)
    {
        int first = (int)((long)files * k / jobs), count = (int)((long)files * (k + 1) / jobs) - first;
        var jobDir = Path.Combine(smallDir, "j" + k.ToString(CultureInfo.InvariantCulture));
        threads[k] = new Thread(() =>
        {
            try { work(jobDir, first, count); }
            catch (Exception e) { Interlocked.CompareExchange(ref failed, e, null); }
        });
        threads[k].Start();
    }
    foreach (var t in threads) t.Join();
    if (failed is not null) throw new IOException("a job failed: " + failed.Message, failed);
}

static string SmallFile(string jobDir, int i) => Path.Combine(jobDir, "f" + i.ToString(CultureInfo.InvariantCulture));

// A plain stat(2): File.Exists and FileInfo add work of their own that would blur the numbers.
static unsafe int Stat(string path)
{
    byte* buf = stackalloc byte[256];
    return StatNative(path, buf);
}

// Lock then unlock the whole file, N times after a warm-up, timing each call on its own: on a mount each is one
// round trip to the brick (the lock also drops the kernel's cached pages of the file, FUSE's part of a grant).
static (double[] Lock, double[] Unlock) LockLatency(string path, bool flock, int n)
{
    int fd = Open(path, 0x42 /* O_RDWR|O_CREAT */, 0x1A4);
    if (fd < 0) throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
    var lockUs = new double[n];
    var unlockUs = new double[n];
    try
    {
        for (int i = -Math.Min(200, n); i < n; i++) // negative i: warm-up, not recorded
        {
            long t0 = Stopwatch.GetTimestamp();
            Check(flock ? Flock(fd, 2 | 4 /* LOCK_EX|LOCK_NB */) : SetLk(fd, 1 /* F_WRLCK */), "lock");
            long t1 = Stopwatch.GetTimestamp();
            Check(flock ? Flock(fd, 8 /* LOCK_UN */) : SetLk(fd, 2 /* F_UNLCK */), "unlock");
            long t2 = Stopwatch.GetTimestamp();
            if (i < 0) continue;
            lockUs[i] = Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds;
            unlockUs[i] = Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds;
        }
    }
    finally { Close(fd); }
    return (lockUs, unlockUs);

    static void Check(int r, string what)
    {
        if (r != 0) throw new IOException($"{what}: errno {Marshal.GetLastPInvokeError()}");
    }
}

static unsafe int SetLk(int fd, short type)
{
    var fl = new FlockStruct { Type = type, Whence = 0, Start = 0, Len = 0 };
    return Fcntl(fd, 6 /* F_SETLK */, &fl);
}

// This thread's user and system CPU seconds so far (getrusage RUSAGE_THREAD).
static unsafe (double User, double Sys) ThreadCpu()
{
    long* ru = stackalloc long[18];   // struct rusage on x86-64/arm64: two timevals, then 14 longs
    if (GetRusage(1 /* RUSAGE_THREAD */, ru) != 0) return (0, 0);
    return (ru[0] + ru[1] / 1e6, ru[2] + ru[3] / 1e6);
}

static double Percentile(double[] values, int p)
{
    var sorted = (double[])values.Clone();
    Array.Sort(sorted);
    return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];
}

partial class Program
{
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern unsafe int Fcntl(int fd, int cmd, FlockStruct* fl);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int Flock(int fd, int op);

    /// <summary>struct flock on x86-64.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct FlockStruct
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Len;
        public int Pid;
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern unsafe int GetRusage(int who, long* usage);

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern unsafe int StatNative([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buf);
}
