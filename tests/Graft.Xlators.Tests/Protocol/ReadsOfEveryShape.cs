using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A file with a hole in the middle and an end that is not page-aligned, and reads of it at sizes below and above
/// read-splice's threshold, at aligned and unaligned offsets, across the hole's edges, over the end and past it: each
/// read must give exactly the file's bytes and the count the file has there. Shared (linked) by the in-process brick
/// tests and the tests against a brick process.
/// </summary>
internal static class ReadsOfEveryShape
{
    public const long HoleFrom = (1L << 20) + 100, HoleTo = (2L << 20) + 5000, Size = (3L << 20) + 12345;

    public static readonly int[] Sizes = [4096, 65536, 65537, 100_000, 262_144, 1 << 20];
    public static readonly long[] Offsets = [0, 1, 4095, 1L << 20, HoleTo - 1000, HoleTo + 3, Size - 10, Size, Size + 5000];

    /// <summary>The file's byte at <paramref name="i"/>: zero in the hole, a pattern that changes with every offset elsewhere.</summary>
    public static byte At(long i) => i >= HoleFrom && i < HoleTo ? (byte)0 : (byte)(i * 31 + (i >> 12) + 7);

    private static byte[] Pattern(long from, long to)
    {
        var b = new byte[to - from];
        for (long i = from; i < to; i++) b[i - from] = At(i);
        return b;
    }

    /// <summary>Creates <paramref name="name"/> under the root through <paramref name="top"/> and writes it (the hole is never written); the fd stays open.</summary>
    public static async Task<Fd> CreateAsync(Translator top, InodeTable table, string name)
    {
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(table, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        var made = await top.CreateAsync(root, Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
        Assert.True(made.Ok, "create: " + made.Error.Name());
        foreach (var (from, to) in new[] { (0L, HoleFrom), (HoleTo, Size) })
            for (long at = from; at < to; at += 1 << 20)
            {
                long end = Math.Min(to, at + (1 << 20));
                var w = await top.WritevAsync(root, fd, Pattern(at, end), at);
                Assert.True(w.Ok && w.Value == end - at, $"write at {at}: {w.Error.Name()} {w.Value}");
            }
        return fd;
    }

    /// <summary>Every size at every offset: the count and every byte as the file has them.</summary>
    public static async Task ReadAllAsync(Translator top, Fd fd)
    {
        var root = FopContext.Root();
        foreach (int size in Sizes)
            foreach (long offset in Offsets)
            {
                var buf = new byte[size];
                buf.AsSpan().Fill(0xEE);
                var r = await top.ReadvAsync(root, fd, buf, offset);
                Assert.True(r.Ok, $"read {size} at {offset}: {r.Error.Name()}");
                int want = (int)Math.Clamp(Size - offset, 0, size);
                Assert.True(r.Value == want, $"read {size} at {offset}: {r.Value} bytes, the file has {want} there");
                for (int i = 0; i < want; i++)
                    if (buf[i] != At(offset + i)) Assert.Fail($"read {size} at {offset}: byte {offset + i} is {buf[i]}, the file has {At(offset + i)}");
            }
    }
}
