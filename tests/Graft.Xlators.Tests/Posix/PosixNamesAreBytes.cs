using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// storage/posix passes names, symlink targets and xattr names to the kernel as the bytes their strings stand
/// for (<see cref="NameBytes"/>), and reads them back the same way: a name that is not UTF-8 is made, found,
/// listed, renamed, linked and removed with exactly its bytes, as a C program on the brick directory would.
/// </summary>
public sealed class PosixNamesAreBytes
{
    private static FopContext Root => PosixBrick.Root;

    /// <summary>Latin-1, a lone continuation byte, an overlong '/', a UTF-8-encoded surrogate, never-UTF-8 bytes, valid UTF-8.</summary>
    public static readonly byte[][] Names =
    [
        [0xFF, 0xFE], [(byte)'c', (byte)'a', (byte)'f', 0xE9], [(byte)'a', 0x80, (byte)'b'], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
        "café"u8.ToArray(), "日本語"u8.ToArray(),
    ];

    private static string S(byte[] b) => NameBytes.GetString(b);

    private static byte[] Ok((int Errno, byte[] Data) r)
    {
        Assert.Equal(0, r.Errno);
        return r.Data;
    }

    [PosixFact]
    public async Task Names_made_through_the_brick_are_on_disk_with_exactly_their_bytes()
    {
        await using var b = await PosixBrick.StartAsync();
        var gfids = new Dictionary<string, Gfid>();
        foreach (var n in Names)
        {
            var (iatt, fd) = await b.CreateOk(Gfid.Root, S(n));
            Assert.True((await b.Xl.WritevAsync(Root, fd, n, 0)).Ok);
            await b.Release(fd);
            gfids[S(n)] = iatt.Gfid;
        }
        Assert.Equal(Names.OrderBy(n => n, ByteOrder.Instance), RawFs.List(RawFs.P(b.Dir)).Where(n => !n.SequenceEqual(".graft"u8)));
        foreach (var n in Names) Assert.Equal(n, Ok(RawFs.Read(RawFs.P(b.Dir, n))));

        // readdir and readdirp give back the very strings the names were made with, and each looks up to its object.
        foreach (var plus in new[] { false, true })
        {
            var listed = (await b.ReaddirAll(Gfid.Root, plus)).Where(e => e.Name is not ("." or "..")).ToList();
            Assert.Equal(gfids.Keys.Order(StringComparer.Ordinal), listed.Select(e => e.Name).Order(StringComparer.Ordinal));
            Assert.All(listed, e => Assert.Equal(gfids[e.Name], e.Gfid));
        }
        foreach (var (name, g) in gfids) Assert.Equal(g, (await b.LookupOk(Gfid.Root, name)).Gfid);
    }

    [PosixFact]
    public async Task Rename_link_symlink_and_unlink_keep_every_byte()
    {
        await using var b = await PosixBrick.StartAsync();
        byte[] from = [(byte)'o', 0xFF], to = [(byte)'n', 0xE9, 0x80], hard = [0xC0, 0xAF, (byte)'h'], sym = [0xED, 0xA0, 0x80, (byte)'s'];
        byte[] target = [(byte)'.', (byte)'/', (byte)'n', 0xE9, 0x80];
        var (iatt, fd) = await b.CreateOk(Gfid.Root, S(from));
        await b.Release(fd);

        Assert.True((await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, S(from)), Loc.Child(Gfid.Root, S(to)), RenameFlags.None)).Ok);
        Assert.True((await b.Xl.LinkAsync(Root, Loc.Nameless(iatt.Gfid), Loc.Child(Gfid.Root, S(hard)))).Ok);
        Assert.True((await b.Xl.SymlinkAsync(Root, S(target), Loc.Child(Gfid.Root, S(sym)), 0, Gfid.NewGfid())).Ok);
        Assert.Equal(new[] { hard, sym, to }.OrderBy(n => n, ByteOrder.Instance), RawFs.List(RawFs.P(b.Dir)).Where(n => !n.SequenceEqual(".graft"u8)));
        Assert.Equal(target, Ok(RawFs.ReadLink(RawFs.P(b.Dir, sym))));
        var link = await b.LookupOk(Gfid.Root, S(sym));
        Assert.Equal(S(target), (await b.Xl.ReadlinkAsync(Root, Loc.Nameless(link.Gfid))).Value);

        foreach (var n in new[] { to, hard, sym }) Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, S(n))));
        Assert.Equal([".graft"u8.ToArray()], RawFs.List(RawFs.P(b.Dir)));
    }

    [PosixFact]
    public async Task A_directory_with_a_name_that_is_not_UTF8_is_found_again_by_its_gfid()
    {
        // The handle store records a directory's (parent, name) in a symlink's target: with the name's bytes, so a
        // brick that has forgotten every directory fd walks back to it.
        await using var b = await PosixBrick.StartAsync();
        byte[] dn = [0xFF, (byte)'d', 0xE9];
        var dir = await b.MkdirOk(Gfid.Root, S(dn));
        var (file, fd) = await b.CreateOk(dir.Gfid, "inside");
        await b.Release(fd);
        await b.RestartAsync();
        var found = await b.Xl.LookupAsync(Root, Loc.Nameless(file.Gfid));
        Assert.True(found.Ok, $"nameless lookup: {found.Error}");
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(dir.Gfid))).Ok);
        Assert.Equal(0, RawFs.Read(RawFs.P(b.Dir, dn, "inside"u8.ToArray())).Errno);
    }

    [PosixFact]
    public async Task Names_made_on_the_brick_directory_itself_are_seen_with_their_bytes()
    {
        await using var b = await PosixBrick.StartAsync(prepare: dir =>
        {
            foreach (var n in Names) Assert.Equal(0, RawFs.Create(RawFs.P(dir, n), n));
        });
        var listed = (await b.ReaddirAll(Gfid.Root, plus: true)).Where(e => e.Name is not ("." or "..")).Select(e => e.Name);
        Assert.Equal(Names.Select(S).Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        foreach (var n in Names)
        {
            var fd = await b.OpenOk(Loc.Child(Gfid.Root, S(n)), OpenFlags.O_RDONLY);
            var buf = new byte[16];
            Assert.Equal(n.Length, (await b.Xl.ReadvAsync(Root, fd, buf, 0)).Value);
            Assert.Equal(n, buf[..n.Length]);
            await b.Release(fd);
            Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, S(n))));
        }
    }

    [PosixFact]
    public async Task Xattr_names_are_bytes_too()
    {
        await using var b = await PosixBrick.StartAsync();
        var (iatt, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(fd);
        var name = S([.. "user."u8, 0xFF, 0xE9]);
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, Loc.Nameless(iatt.Gfid), name, "v"u8.ToArray(), 0));
        Assert.Contains(name, (await b.Xl.ListxattrAsync(Root, Loc.Nameless(iatt.Gfid))).Value);
        Assert.Equal("v"u8.ToArray(), (await b.Xl.GetxattrAsync(Root, Loc.Nameless(iatt.Gfid), name)).Value);
        Assert.Equal(Errno.OK, await b.Xl.RemovexattrAsync(Root, Loc.Nameless(iatt.Gfid), name));
    }

    [PosixFact]
    public async Task A_string_that_stands_for_no_bytes_is_not_a_name()
    {
        // A lone surrogate, and escapes that spell "é" (whose bytes are the name "é", a different string).
        await using var b = await PosixBrick.StartAsync();
        var (iatt, fd) = await b.CreateOk(Gfid.Root, "é");
        await b.Release(fd);
        foreach (var bad in new[] { "a\uD800", "\uDCC3\uDCA9" })
        {
            var f = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
            Assert.Equal(Errno.EINVAL, (await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, bad), OpenFlags.O_CREAT, 0x1A4, 0, Gfid.NewGfid(), f)).Error);
            Assert.Equal(Errno.EINVAL, (await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, bad))).Error);
            Assert.Equal(Errno.EINVAL, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, bad), 0x1ED, 0, Gfid.NewGfid())).Error);
            Assert.Equal(Errno.EINVAL, (await b.Xl.SymlinkAsync(Root, bad, Loc.Child(Gfid.Root, "s"), 0, Gfid.NewGfid())).Error);
            Assert.Equal(Errno.EINVAL, await b.Xl.SetxattrAsync(Root, Loc.Nameless(iatt.Gfid), "user." + bad, "v"u8.ToArray(), 0));
        }
        Assert.Equal(["é"u8.ToArray()], RawFs.List(RawFs.P(b.Dir)).Where(n => !n.SequenceEqual(".graft"u8)));
    }

    /// <summary>Bytewise order, as RawFs.List sorts.</summary>
    public sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
