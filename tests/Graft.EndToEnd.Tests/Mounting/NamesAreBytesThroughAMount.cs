using Graft.Xlators.Tests.Posix;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// File names are bytes. Through a real mount over a real brick process, names that are not UTF-8 (Latin-1, a
/// lone continuation byte, an overlong '/', a surrogate encoded in UTF-8, a truncated sequence, bytes above
/// U+10FFFF) and valid UTF-8 names are created, listed, opened, renamed, hard-linked, used as symlink targets
/// and removed exactly as on the local filesystem: the same script runs against a native directory and against
/// the mount, with raw byte syscalls, and both transcripts must be identical byte for byte.
/// </summary>
public class NamesAreBytesThroughAMount
{
    internal static readonly byte[][] Names =
    [
        [0xFF, 0xFE], [(byte)'c', (byte)'a', (byte)'f', 0xE9], [(byte)'a', 0x80, (byte)'b'], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
        [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [(byte)'x', 0xC3, 0xA9, 0xFF],
        "café"u8.ToArray(), "日本語"u8.ToArray(), "😀"u8.ToArray(),
    ];

    static byte[] Cat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>Runs every operation on names under <paramref name="root"/> and writes down each outcome.</summary>
    static List<string> Script(string root)
    {
        var t = new List<string>();
        void Note(string what, object result) => t.Add($"{what}: {result}");
        string Hex(byte[] b) => Convert.ToHexString(b);
        string Listing(byte[] dir) => string.Join(",", RawFs.List(dir).Select(Hex));

        var d = RawFs.P(root, "names"u8.ToArray());
        Note("mkdir", RawFs.Mkdir(d));
        foreach (var n in Names) Note($"create {Hex(n)}", RawFs.Create(RawFs.P(root, "names"u8.ToArray(), n), n));
        Note("list", Listing(d));
        foreach (var n in Names)
        {
            var (e, data) = RawFs.Read(RawFs.P(root, "names"u8.ToArray(), n));
            Note($"read {Hex(n)}", $"{e} {Hex(data)}");
        }
        foreach (var n in Names)
        {
            byte[] P(byte[] name) => RawFs.P(root, "names"u8.ToArray(), name);
            var renamed = Cat(n, [0xFF, (byte)'r']);
            Note($"rename {Hex(n)}", RawFs.Rename(P(n), P(renamed)));
            Note($"link {Hex(n)}", RawFs.Link(P(renamed), P(Cat([(byte)'l'], n))));
            var target = Cat("./"u8.ToArray(), renamed);
            Note($"symlink {Hex(n)}", RawFs.Symlink(target, P(Cat([(byte)'s'], n))));
            var (e, back) = RawFs.ReadLink(P(Cat([(byte)'s'], n)));
            Note($"readlink {Hex(n)}", $"{e} {Hex(back)}");
            var (re, data) = RawFs.Read(P(Cat([(byte)'s'], n))); // through the symlink: the target resolves by its bytes
            Note($"read via symlink {Hex(n)}", $"{re} {Hex(data)}");
            Note($"mkdir {Hex(n)}", RawFs.Mkdir(P(Cat([(byte)'d'], n))));
            Note($"create inside {Hex(n)}", RawFs.Create(RawFs.P(root, "names"u8.ToArray(), Cat([(byte)'d'], n), n), n));
            Note($"list inside {Hex(n)}", Listing(P(Cat([(byte)'d'], n))));
        }
        Note("list after", Listing(d));
        foreach (var n in Names)
        {
            byte[] P(byte[] name) => RawFs.P(root, "names"u8.ToArray(), name);
            Note($"unlink {Hex(n)}", RawFs.Unlink(P(Cat(n, [0xFF, (byte)'r']))));
            Note($"unlink link {Hex(n)}", RawFs.Unlink(P(Cat([(byte)'l'], n))));
            Note($"unlink symlink {Hex(n)}", RawFs.Unlink(P(Cat([(byte)'s'], n))));
            Note($"unlink inside {Hex(n)}", RawFs.Unlink(RawFs.P(root, "names"u8.ToArray(), Cat([(byte)'d'], n), n)));
            Note($"rmdir {Hex(n)}", RawFs.Rmdir(P(Cat([(byte)'d'], n))));
        }
        Note("list at the end", Listing(d));
        return t;
    }

    [MountFact]
    public async Task Every_name_operation_gives_the_same_bytes_as_the_local_filesystem()
    {
        var native = Proc.PrivateDir("names-native");
        try
        {
            await using var v = await MountedVolume.UpAsync("names");
            var expected = Script(native);
            var actual = Script(v.Mnt);
            for (int i = 0; i < Math.Max(expected.Count, actual.Count); i++)
                Assert.True(i < expected.Count && i < actual.Count && expected[i] == actual[i],
                    $"line {i}: native '{expected.ElementAtOrDefault(i)}', mount '{actual.ElementAtOrDefault(i)}'");
            // And the transcript is the interesting one: every name was made, listed with its exact bytes, and removed.
            Assert.All(expected.Where(l => l.StartsWith("create ", StringComparison.Ordinal)), l => Assert.EndsWith(": 0", l));
            Assert.Equal("list: " + string.Join(",", Names.Select(Convert.ToHexString).Order(StringComparer.Ordinal)), expected[Names.Length + 1]);
            Assert.Equal("list at the end: ", expected[^1]);

            // The brick holds the very same bytes.
            byte[] probe = [0xFF, (byte)'p', 0xE9];
            Assert.Equal(0, RawFs.Create(RawFs.P(v.Mnt, probe), probe));
            var (e, data) = RawFs.Read(RawFs.P(v.Brick, probe));
            Assert.Equal((0, Convert.ToHexString(probe)), (e, Convert.ToHexString(data)));
            Assert.Equal(0, RawFs.Unlink(RawFs.P(v.Mnt, probe)));
        }
        finally { await Network.LibraryOverABrickProcess.RemoveTreeAsync(native); }
    }

    [MountFact]
    public async Task Names_made_on_the_brick_directory_are_looked_up_listed_and_read_through_the_mount()
    {
        // Names the kernel has never seen: each LOOKUP reaches the brick with the name's bytes.
        await using var v = await MountedVolume.UpAsync("names-brick");
        Assert.Equal(0, RawFs.Mkdir(RawFs.P(v.Brick, "old"u8.ToArray())));
        foreach (var n in Names) Assert.Equal(0, RawFs.Create(RawFs.P(v.Brick, "old"u8.ToArray(), n), n));
        foreach (var n in Names)
        {
            var (e, data) = RawFs.Read(RawFs.P(v.Mnt, "old"u8.ToArray(), n));
            Assert.Equal(0, e);
            Assert.Equal(n, data);
        }
        Assert.Equal(Names.Select(Convert.ToHexString).Order(StringComparer.Ordinal),
            RawFs.List(RawFs.P(v.Mnt, "old"u8.ToArray())).Select(Convert.ToHexString));
        foreach (var n in Names) Assert.Equal(0, RawFs.Unlink(RawFs.P(v.Mnt, "old"u8.ToArray(), n)));
        Assert.Empty(RawFs.List(RawFs.P(v.Brick, "old"u8.ToArray())));
    }
}
