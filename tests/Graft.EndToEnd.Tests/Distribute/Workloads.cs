using System.Security.Cryptography;
using System.Text;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>What applications do to files in the distribute tests, with what it must leave behind.</summary>
internal static class Workloads
{
    /// <summary>
    /// A small fsx: random pwrite / ftruncate / pread on one file through the mount until
    /// cancelled, every read compared with a model of what the file must hold. Counts its ops in
    /// <paramref name="ops"/>[0] as it goes; returns them.
    /// </summary>
    public static int FsxRun(string path, int[] ops, CancellationToken ct)
    {
        var rnd = new Random(12);
        var model = new List<byte>();
        using var h = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite);
        int done = 0;
        for (; !ct.IsCancellationRequested; done++, Volatile.Write(ref ops[0], done))
        {
            switch (rnd.Next(4))
            {
                case 0: case 1:
                {
                    int off = rnd.Next(0, 256 << 10), len = rnd.Next(1, 16 << 10);
                    var data = new byte[len];
                    rnd.NextBytes(data);
                    RandomAccess.Write(h, data, off);
                    while (model.Count < off + len) model.Add(0);
                    for (int i = 0; i < len; i++) model[off + i] = data[i];
                    break;
                }
                case 2:
                {
                    int size = rnd.Next(0, 256 << 10);
                    RandomAccess.SetLength(h, size);
                    if (size < model.Count) model.RemoveRange(size, model.Count - size);
                    else while (model.Count < size) model.Add(0);
                    break;
                }
                default:
                {
                    Assert.Equal(model.Count, RandomAccess.GetLength(h));
                    int off = model.Count == 0 ? 0 : rnd.Next(0, model.Count), len = rnd.Next(1, 32 << 10);
                    var buf = new byte[len];
                    int n = RandomAccess.Read(h, buf, off);
                    Assert.Equal(Math.Max(0, Math.Min(len, model.Count - off)), n);
                    for (int i = 0; i < n; i++)
                        if (buf[i] != model[off + i]) Assert.Fail($"fsx: op {done}: byte {off + i} is {buf[i]}, expected {model[off + i]}");
                    break;
                }
            }
        }
        return done;
    }

    public static byte[] Record(int writer, int n)
    {
        var body = $"w{writer} r{n:D5} ";
        var sum = Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(body)))[..16];
        return Encoding.ASCII.GetBytes(body + sum + "\n");
    }

    /// <summary>
    /// Writer <paramref name="writer"/> appends its records to <paramref name="path"/> (O_APPEND, opened
    /// once) and fsyncs each until cancelled; <paramref name="counts"/>[writer]
    /// is the number acknowledged, so the file must end up holding <see cref="Records"/>(writer, that count).
    /// </summary>
    public static Task AppendRecordsAsync(string path, int writer, int[] counts, CancellationToken ct) => Task.Run(async () =>
    {
        await using var s = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
        for (int r = 0; !ct.IsCancellationRequested; r++)
        {
            await s.WriteAsync(Record(writer, r));
            s.Flush(flushToDisk: true);
            Volatile.Write(ref counts[writer], r + 1);
        }
    });

    /// <summary>Writer <paramref name="writer"/>'s records 0..n-1, as they must be in its file.</summary>
    public static byte[] Records(int writer, int n) => [.. Enumerable.Range(0, n).SelectMany(r => Record(writer, r))];

    /// <summary>
    /// <paramref name="count"/> files of 500 B to 20 KiB of random bytes, half in <paramref name="dir"/> and half
    /// in its subdirectory `s`, written through a mount at <paramref name="mnt"/>; returns each volume path's bytes.
    /// </summary>
    public static async Task<Dictionary<string, byte[]>> WriteTreeAsync(string mnt, string dir, int count, int seed)
    {
        Directory.CreateDirectory(Path.Combine(mnt, dir.TrimStart('/'), "s"));
        var rnd = new Random(seed);
        var files = new Dictionary<string, byte[]>();
        for (int i = 0; i < count; i++)
        {
            var path = i % 2 == 0 ? $"{dir}/f{i}" : $"{dir}/s/f{i}";
            var data = new byte[500 + rnd.Next(20_000)];
            rnd.NextBytes(data);
            files[path] = data;
            await File.WriteAllBytesAsync(Path.Combine(mnt, path.TrimStart('/')), data);
        }
        return files;
    }

    /// <summary>Every file of <paramref name="files"/> reads back whole through the mount, and each directory lists exactly them.</summary>
    public static async Task AssertTreeAsync(string mnt, Dictionary<string, byte[]> files)
    {
        foreach (var (path, data) in files)
        {
            var read = await File.ReadAllBytesAsync(Path.Combine(mnt, path.TrimStart('/')));
            Assert.True(data.AsSpan().SequenceEqual(read), $"{path} differs");
        }
        foreach (var dir in files.Keys.GroupBy(k => k[..k.LastIndexOf('/')]))
            Assert.Equal(dir.Select(k => k[(k.LastIndexOf('/') + 1)..]).Order(StringComparer.Ordinal),
                         Directory.GetFiles(Path.Combine(mnt, dir.Key.TrimStart('/'))).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
    }
}
