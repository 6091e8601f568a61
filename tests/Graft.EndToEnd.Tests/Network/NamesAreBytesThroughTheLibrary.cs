using Graft.Client;
using Graft.Core;
using Graft.EndToEnd.Tests.Mounting;
using Graft.Xlators.Tests.Posix;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A .NET caller names files with strings: a name that is not UTF-8 is written with one U+DC80..U+DCFF escape per
/// byte (<see cref="NameBytes"/>), and the library, the wire and a real brick process keep those exact bytes.
/// A string that stands for no bytes at all is refused with EINVAL before anything is made.
/// </summary>
public class NamesAreBytesThroughTheLibrary
{
    static string S(byte[] b) => NameBytes.GetString(b);

    [Fact]
    public async Task Names_that_are_not_UTF8_are_made_listed_renamed_linked_and_removed_with_their_bytes()
    {
        await using var l = await LibraryOverABrickProcess.StartAsync();
        var v = l.Volume;
        var names = NamesAreBytesThroughAMount.Names;
        foreach (var n in names) await v.WriteAllBytesAsync("/" + S(n), n);
        Assert.Equal(names.Select(Convert.ToHexString).Order(StringComparer.Ordinal),
            RawFs.List(RawFs.P(l.BrickDir)).Where(n => !n.SequenceEqual(".graft"u8)).Select(Convert.ToHexString));
        Assert.Equal(names.Select(S).Order(StringComparer.Ordinal), (await v.ListDirectoryAsync("/")).Select(e => e.Name).Order(StringComparer.Ordinal));

        foreach (var n in names)
        {
            Assert.Equal(n, await v.ReadAllBytesAsync("/" + S(n)));
            byte[] renamed = [.. n, 0xFF], linked = [0xC0, .. n], sym = [0xED, 0xA0, 0x80, .. n];
            await v.RenameAsync("/" + S(n), "/" + S(renamed));
            await v.LinkAsync("/" + S(renamed), "/" + S(linked));
            await v.SymlinkAsync(S(renamed), "/" + S(sym));
            Assert.Equal(S(renamed), await v.ReadLinkAsync("/" + S(sym)));
            var (e, target) = RawFs.ReadLink(RawFs.P(l.BrickDir, sym));
            Assert.Equal((0, Convert.ToHexString(renamed)), (e, Convert.ToHexString(target)));
            Assert.Equal(n, await v.ReadAllBytesAsync("/" + S(sym))); // the target resolves by its bytes
            foreach (var gone in new[] { renamed, linked, sym }) await v.DeleteFileAsync("/" + S(gone));
        }
        Assert.Equal([".graft"u8.ToArray()], RawFs.List(RawFs.P(l.BrickDir)));
    }

    [Fact]
    public async Task A_string_that_stands_for_no_bytes_is_EINVAL_and_makes_nothing()
    {
        await using var l = await LibraryOverABrickProcess.StartAsync();
        var v = l.Volume;
        await v.WriteAllBytesAsync("/é", "x"u8.ToArray());
        // A lone surrogate, and escapes that spell "é" (whose bytes are another name, "é").
        foreach (var bad in new[] { "/a\uD800", "/\uDCC3\uDCA9" })
        {
            Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<GraftIOException>(() => v.WriteAllBytesAsync(bad, "y"u8.ToArray()))).Errno);
            Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<GraftIOException>(() => v.MkdirAsync(bad))).Errno);
            Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<GraftIOException>(() => v.SymlinkAsync(bad, "/s"))).Errno);
            Assert.Equal(Errno.EINVAL, (await Assert.ThrowsAsync<GraftIOException>(() => v.SetXattrAsync("/é", "user" + bad, "v"u8.ToArray()))).Errno);
        }
        Assert.Equal("x"u8.ToArray(), await v.ReadAllBytesAsync("/é"));
        Assert.Equal([".graft"u8.ToArray(), "é"u8.ToArray()], RawFs.List(RawFs.P(l.BrickDir)));
    }
}
