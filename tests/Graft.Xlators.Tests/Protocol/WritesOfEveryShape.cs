using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Writes at sizes below, at and above write-splice's threshold (64 KiB: one byte under it and exactly it), at aligned
/// and unaligned offsets and past the end (leaving holes behind them), each overwriting parts of those before: the file
/// must end up with exactly the bytes written last at every offset and zeros in the holes. Shared (linked) by the
/// in-process brick tests and the tests against a brick process.
/// </summary>
internal static class WritesOfEveryShape
{
    public const int MiB = 1 << 20;
    public static readonly int[] Sizes = [4096, 65535, 65536, 100_000, 262_147, MiB];
    public static readonly long[] Offsets = [0, 1, 4095, 3L * MiB + 17, 9L * MiB - 5];
    public static int Count => Sizes.Length * Offsets.Length;

    /// <summary>The byte the <paramref name="round"/>th write puts at <paramref name="i"/>.</summary>
    private static byte At(long i, int round) => (byte)(i * 131 + round * 17 + (i >> 11) + 1);

    /// <summary>Creates <paramref name="name"/> under the root through <paramref name="top"/>, opened with <paramref name="flags"/> (O_CREAT added); the fd stays open.</summary>
    public static async Task<Fd> CreateAsync(Translator top, InodeTable table, string name, int flags = OpenFlags.O_RDWR)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(table, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, flags);
        var made = await top.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, name), flags | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
        Assert.True(made.Ok, "create: " + made.Error.Name());
        return fd;
    }

    /// <summary>
    /// Every size at every offset, in turn; <paramref name="afterEach"/> runs after each write with its size. Returns the
    /// content the file must have.
    /// </summary>
    public static async Task<byte[]> WriteAllAsync(Translator top, Fd fd, Action<int>? afterEach = null)
    {
        var root = FopContext.Root();
        var expected = new byte[Offsets.Max() + MiB];
        long end = 0;
        int round = 0;
        foreach (int size in Sizes)
            foreach (long offset in Offsets)
            {
                round++;
                var data = new byte[size];
                for (int k = 0; k < size; k++) data[k] = At(offset + k, round);
                var w = await top.WritevAsync(root, fd, data, offset);
                Assert.True(w.Ok && w.Value == size, $"write {size} at {offset}: {w.Error.Name()} {w.Value}");
                data.CopyTo(expected, offset);
                end = Math.Max(end, offset + size);
                afterEach?.Invoke(size);
            }
        return expected[..(int)end];
    }

    /// <summary>The file at <paramref name="path"/> holds exactly <paramref name="expected"/>.</summary>
    public static void Check(string path, byte[] expected)
    {
        var onDisk = File.ReadAllBytes(path);
        Assert.Equal(expected.Length, onDisk.Length);
        int same = expected.AsSpan().CommonPrefixLength(onDisk);
        Assert.True(same == expected.Length, same < expected.Length ? $"byte {same} is {onDisk[same]}, {expected[same]} was written there" : "");
    }
}
