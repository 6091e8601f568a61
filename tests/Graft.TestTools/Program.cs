using System.Buffers.Binary;
using System.Runtime.InteropServices;

// Graft.TestTools: an ordinary application for end-to-end tests, using plain syscalls.
//   append FILE WRITER STOPFILE [FSYNC_EVERY]
//     opens FILE once with O_WRONLY|O_CREAT|O_APPEND and appends 64-byte checksummed records
//     (writer, sequence, filler, FNV-1a) until STOPFILE exists; fsyncs every FSYNC_EVERY records.
//     Prints "records N" and exits 0; on the first failed write or fsync prints the errno and exits 1.
//   check FILE WRITER RECORDS
//     verifies that FILE holds exactly RECORDS intact records of WRITER, in order.
//   count FILE TIMES
//     TIMES × (F_SETLKW write lock on the whole FILE, read the decimal counter in it, write it back
//     plus one, unlock): with several of these at once, the final count proves mutual exclusion.
//     Prints "counted TIMES" and exits 0; on the first failed call prints it and exits 1.
//   lock
//     a lock-taking process driven over stdin, one command per line, one answer line each
//     (see LockTool.cs): it owns its POSIX locks as a process does, so tests can pit processes.
return args.FirstOrDefault() switch
{
    "lock" => LockTool.Run(Console.In, Console.Out),
    "count" when args.Length == 3 => LockTool.Count(args[1], int.Parse(args[2])),
    "append" when args.Length >= 4 => Append(args[1], int.Parse(args[2]), args[3], args.Length > 4 ? int.Parse(args[4]) : 4),
    "check" when args.Length == 4 => Check(args[1], int.Parse(args[2]), int.Parse(args[3])),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: append FILE WRITER STOPFILE [FSYNC_EVERY] | check FILE WRITER RECORDS | count FILE TIMES | lock");
    return 2;
}

static int Append(string path, int writer, string stopFile, int fsyncEvery)
{
    const int O_WRONLY = 1, O_CREAT = 0x40, O_APPEND = 0x400, O_CLOEXEC = 0x80000;
    int fd = Libc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0x1A4);
    if (fd < 0) { Console.Error.WriteLine($"open: errno {Marshal.GetLastPInvokeError()}"); return 1; }
    var rec = new byte[Record.Size];
    int seq = 0;
    Console.WriteLine("ready");
    Console.Out.Flush();
    while (!File.Exists(stopFile) || seq < 10)
    {
        Record.Make(rec, writer, seq);
        long n = Libc.write(fd, rec, rec.Length);
        if (n != rec.Length) { Console.Error.WriteLine($"write {seq}: returned {n}, errno {Marshal.GetLastPInvokeError()}"); return 1; }
        seq++;
        if (seq % fsyncEvery == 0 && Libc.fsync(fd) != 0) { Console.Error.WriteLine($"fsync after {seq}: errno {Marshal.GetLastPInvokeError()}"); return 1; }
    }
    if (Libc.fsync(fd) != 0 || Libc.close(fd) != 0) { Console.Error.WriteLine($"fsync/close: errno {Marshal.GetLastPInvokeError()}"); return 1; }
    Console.WriteLine($"records {seq}");
    return 0;
}

static int Check(string path, int writer, int records)
{
    var data = File.ReadAllBytes(path);
    if (data.Length != records * Record.Size) { Console.Error.WriteLine($"{path}: {data.Length} bytes, expected {records * Record.Size}"); return 1; }
    for (int seq = 0; seq < records; seq++)
    {
        var err = Record.Verify(data.AsSpan(seq * Record.Size, Record.Size), writer, seq);
        if (err is not null) { Console.Error.WriteLine($"{path}: record {seq}: {err}"); return 1; }
    }
    Console.WriteLine($"ok {records}");
    return 0;
}

static class Record
{
    public const int Size = 64;

    public static void Make(byte[] rec, int writer, int seq)
    {
        BinaryPrimitives.WriteInt32LittleEndian(rec, writer);
        BinaryPrimitives.WriteInt32LittleEndian(rec.AsSpan(4), seq);
        for (int i = 8; i < 60; i++) rec[i] = (byte)(writer * 31 + seq + i);
        BinaryPrimitives.WriteUInt32LittleEndian(rec.AsSpan(60), Fnv(rec.AsSpan(0, 60)));
    }

    public static string? Verify(ReadOnlySpan<byte> rec, int writer, int seq)
    {
        if (Fnv(rec[..60]) != BinaryPrimitives.ReadUInt32LittleEndian(rec[60..])) return "checksum";
        if (BinaryPrimitives.ReadInt32LittleEndian(rec) != writer) return "writer";
        if (BinaryPrimitives.ReadInt32LittleEndian(rec[4..]) != seq) return $"sequence {BinaryPrimitives.ReadInt32LittleEndian(rec[4..])}";
        return null;
    }

    private static uint Fnv(ReadOnlySpan<byte> b)
    {
        uint h = 2166136261;
        foreach (var x in b) h = (h ^ x) * 16777619;
        return h;
    }
}

internal static partial class Libc
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
