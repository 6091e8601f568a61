using System.Runtime.InteropServices;
using System.Text;

/// <summary>
/// `lock`: a process that takes POSIX (fcntl), OFD and flock locks when told to, so end-to-end
/// tests can pit real processes (lock owners) against each other, and makes plain file calls
/// (write, fsync, close, ...) so they can see what each syscall returns. Prints "ready PID" first, then
/// answers each command line with exactly one line:
///   open NAME PATH MODE        MODE: r | w | rw, with a trailing c to create (e.g. rwc)  → ok | err ENAME
///   fcntl NAME CMD TYPE START LEN
///                              CMD: setlk setlkw getlk ofd-setlk ofd-setlkw ofd-getlk; TYPE: r w u
///                              → ok | err ENAME; getlk: "lock TYPE START LEN PID" | "unlocked"
///   flock NAME sh|ex|un [nb]   → ok | err ENAME
///   write NAME OFFSET TEXT     → ok N | err ENAME
///   read NAME OFFSET LEN       → data TEXT (what was read, may be empty) | err ENAME
///   reads NAME LEN OFFSET...   one thread per OFFSET, released together, each preads LEN bytes there
///                              → ok N... (bytes read, in OFFSET order) | err ENAME (the first failure)
///   fstat NAME                 → ok SIZE | err ENAME
///   seekend NAME               → ok OFFSET | err ENAME  (lseek SEEK_END: the kernel asks the size by fh)
///   stat PATH                  → ok SIZE | err ENAME
///   fsync NAME | fdatasync NAME → ok | err ENAME
///   close NAME                 → ok | err ENAME
///   park NAME COUNT START      COUNT threads, each blocked in F_SETLKW for a write lock on byte START+i
///                              (one lock owner: this process) → ok once they are started
///   parked                     → granted G failed F [first error ENAME]: how the parked calls ended so far
///   exit                       → ends the process (its locks go with it)
/// A blocking command (setlkw, flock without nb) answers when it returns, so a test waits on the
/// answer line; no other command is read meanwhile.
/// </summary>
internal static class LockTool
{
    private const int F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7, F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38;
    private const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    private static int s_granted, s_failed, s_firstError;

    public static int Run(TextReader input, TextWriter output)
    {
        var files = new Dictionary<string, int>();
        output.WriteLine($"ready {Environment.ProcessId}");
        output.Flush();
        string? line;
        while ((line = input.ReadLine()) is not null)
        {
            var a = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (a.Length == 0) continue;
            if (a[0] == "exit") return 0;
            string answer;
            try { answer = Execute(files, a); }
            catch (Exception e) when (e is FormatException or KeyNotFoundException or IndexOutOfRangeException or ArgumentException)
            {
                answer = $"bad {e.Message}";
            }
            output.WriteLine(answer);
            output.Flush();
        }
        return 0;
    }

    /// <summary>`count FILE TIMES`: read-modify-write of a decimal counter under a whole-file write lock.</summary>
    public static int Count(string path, int times)
    {
        int fd = Libc.open(path, 2 | 0x80000, 0);
        if (fd < 0) { Console.Error.WriteLine($"open: {Err()}"); return 1; }
        var buf = new byte[32];
        Console.WriteLine("ready");
        Console.Out.Flush();
        for (int i = 0; i < times; i++)
        {
            var fl = new Flock { Type = 1, Start = 0, Len = 0 };
            if (Libc.fcntl(fd, F_SETLKW, ref fl) != 0) { Console.Error.WriteLine($"lock {i}: {Err()}"); return 1; }
            var n = Libc.pread(fd, buf, buf.Length, 0);
            if (n < 0) { Console.Error.WriteLine($"read {i}: {Err()}"); return 1; }
            var text = Encoding.ASCII.GetString(buf, 0, (int)n).Trim();
            long value = text.Length == 0 ? 0 : long.Parse(text);
            var next = Encoding.ASCII.GetBytes((value + 1).ToString("D12") + "\n");
            if (Libc.pwrite(fd, next, next.Length, 0) != next.Length) { Console.Error.WriteLine($"write {i}: {Err()}"); return 1; }
            fl.Type = 2;
            if (Libc.fcntl(fd, F_SETLK, ref fl) != 0) { Console.Error.WriteLine($"unlock {i}: {Err()}"); return 1; }
        }
        Libc.close(fd);
        Console.WriteLine($"counted {times}");
        return 0;
    }

    private static string Execute(Dictionary<string, int> files, string[] a)
    {
        switch (a[0])
        {
            case "open":
            {
                var mode = a[3];
                int flags = mode.StartsWith("rw", StringComparison.Ordinal) ? 2 : mode.StartsWith('w') ? 1 : 0;
                if (mode.EndsWith('c')) flags |= 0x40;
                int fd = Libc.open(a[2], flags | 0x80000, 0x1B6);
                if (fd < 0) return Err();
                files[a[1]] = fd;
                return "ok";
            }
            case "fcntl":
            {
                int cmd = a[2] switch
                {
                    "setlk" => F_SETLK, "setlkw" => F_SETLKW, "getlk" => F_GETLK,
                    "ofd-setlk" => F_OFD_SETLK, "ofd-setlkw" => F_OFD_SETLKW, "ofd-getlk" => F_OFD_GETLK,
                    _ => throw new ArgumentException($"unknown fcntl command {a[2]}"),
                };
                var fl = new Flock { Type = Type(a[3]), Whence = 0, Start = long.Parse(a[4]), Len = long.Parse(a[5]) };
                if (Libc.fcntl(files[a[1]], cmd, ref fl) != 0) return Err();
                if (cmd is F_GETLK or F_OFD_GETLK)
                    return fl.Type == 2 ? "unlocked" : $"lock {(fl.Type == 0 ? "r" : "w")} {fl.Start} {fl.Len} {fl.Pid}";
                return "ok";
            }
            case "flock":
            {
                int op = a[2] switch { "sh" => LOCK_SH, "ex" => LOCK_EX, "un" => LOCK_UN, _ => throw new ArgumentException($"unknown flock {a[2]}") };
                if (a.Length > 3 && a[3] == "nb") op |= LOCK_NB;
                return Libc.flock(files[a[1]], op) == 0 ? "ok" : Err();
            }
            case "write":
            {
                var data = Encoding.UTF8.GetBytes(string.Join(' ', a[3..]));
                var n = Libc.pwrite(files[a[1]], data, data.Length, long.Parse(a[2]));
                return n < 0 ? Err() : $"ok {n}";
            }
            case "read":
            {
                var buf = new byte[int.Parse(a[3])];
                var n = Libc.pread(files[a[1]], buf, buf.Length, long.Parse(a[2]));
                return n < 0 ? Err() : $"data {Encoding.UTF8.GetString(buf, 0, (int)n)}";
            }
            case "reads":
                return ReadsAtOnce(files[a[1]], int.Parse(a[2]), a[3..].Select(long.Parse).ToArray());
            case "fstat":
            {
                var buf = new byte[144];
                if (Libc.fstat(files[a[1]], buf) != 0) return Err();
                return $"ok {BitConverter.ToInt64(buf, 48)}"; // st_size on x86-64
            }
            case "park":
            {
                int fd = files[a[1]], count = int.Parse(a[2]);
                long start = long.Parse(a[3]);
                for (int i = 0; i < count; i++)
                {
                    long at = start + i;
                    // Small stacks: thousands of these only ever sit in one syscall.
                    new Thread(() => Park(fd, at), 256 * 1024) { IsBackground = true }.Start();
                }
                return "ok";
            }
            case "parked":
            {
                int first = Volatile.Read(ref s_firstError);
                return $"granted {Volatile.Read(ref s_granted)} failed {Volatile.Read(ref s_failed)}" + (first != 0 ? " first error " + Name(first) : "");
            }
            case "seekend":
            {
                var off = Libc.lseek(files[a[1]], 0, 2);
                return off < 0 ? Err() : $"ok {off}";
            }
            case "stat":
            {
                var buf = new byte[144];
                if (Libc.stat(a[1], buf) != 0) return Err();
                return $"ok {BitConverter.ToInt64(buf, 48)}";
            }
            case "fsync":
                return Libc.fsync(files[a[1]]) == 0 ? "ok" : Err();
            case "fdatasync":
                return Libc.fdatasync(files[a[1]]) == 0 ? "ok" : Err();
            case "close":
            {
                var fd = files[a[1]];
                files.Remove(a[1]);
                return Libc.close(fd) == 0 ? "ok" : Err();
            }
            default:
                throw new ArgumentException($"unknown command {a[0]}");
        }
    }

    /// <summary>`reads`: one thread per offset, all released by one barrier, so the preads reach the kernel together.</summary>
    private static string ReadsAtOnce(int fd, int len, long[] offsets)
    {
        var results = new nint[offsets.Length];
        var errors = new int[offsets.Length];
        using var start = new Barrier(offsets.Length);
        var threads = offsets.Select((at, i) => new Thread(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            var buf = new byte[len];
            results[i] = Libc.pread(fd, buf, len, at);
            if (results[i] < 0) errors[i] = Marshal.GetLastPInvokeError();
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromSeconds(60))) return "err ETIMEDOUT";
        var failed = Array.FindIndex(errors, e => e != 0);
        return failed >= 0 ? "err " + Name(errors[failed]) : "ok " + string.Join(' ', results);
    }

    private static void Park(int fd, long at)
    {
        var fl = new Flock { Type = 1, Whence = 0, Start = at, Len = 1 };
        if (Libc.fcntl(fd, F_SETLKW, ref fl) == 0) { Interlocked.Increment(ref s_granted); return; }
        Interlocked.CompareExchange(ref s_firstError, Marshal.GetLastPInvokeError(), 0);
        Interlocked.Increment(ref s_failed);
    }

    private static short Type(string t) => t switch
    {
        "r" => 0, "w" => 1, "u" => 2, _ => throw new ArgumentException($"unknown lock type {t}"),
    };

    private static string Err() => "err " + Name(Marshal.GetLastPInvokeError());

    private static string Name(int e)
    {
        return e switch
        {
            1 => "EPERM", 2 => "ENOENT", 4 => "EINTR", 5 => "EIO", 9 => "EBADF", 11 => "EAGAIN", 13 => "EACCES", 23 => "ENFILE", 24 => "EMFILE",
            28 => "ENOSPC", 122 => "EDQUOT",
            22 => "EINVAL", 35 => "EDEADLK", 37 => "ENOLCK", 38 => "ENOSYS", 107 => "ENOTCONN", 116 => "ESTALE",
            _ => "E" + e,
        };
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct Flock
{
    public short Type;
    public short Whence;
    public long Start;
    public long Len;
    public int Pid;
}

internal static partial class Libc
{
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, ref Flock fl);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(int fd, int op);
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint pwrite(int fd, byte[] buf, nint count, long offset);
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint pread(int fd, byte[] buf, nint count, long offset);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstat(int fd, byte[] buf);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, byte[] buf);
    [LibraryImport("libc", SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(int fd);
}
