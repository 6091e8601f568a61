using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Names, symlink targets and xattr names are bytes on Linux. On the wire each travels as its original bytes
/// (not as UTF-8 re-encoded from a lossy string, which would turn every bad byte into U+FFFD), and a body
/// carrying bytes that are not UTF-8 is a good body, not a malformed one.
/// </summary>
public class NamesTravelAsTheirBytes
{
    static readonly byte[][] Names =
    [
        [0xFF, 0xFE], "caf"u8.ToArray().Append((byte)0xE9).ToArray(), [(byte)'a', 0x80, (byte)'b'], [0xC0, 0xAF],
        [0xED, 0xA0, 0x80], "café"u8.ToArray(), "日本"u8.ToArray(),
    ];

    static string S(byte[] b) => NameBytes.GetString(b);

    /// <summary>The byte run (u32 count + bytes) a string field must have been written as.</summary>
    static byte[] Field(byte[] b) => [.. BitConverter.GetBytes((uint)b.Length), .. b];

    [Fact]
    public void A_name_that_is_not_UTF8_is_written_as_its_bytes_and_read_back_as_the_same_string()
    {
        foreach (var name in Names)
        {
            var q = WireCodecRoundTrips.SampleRequest(FopOp.Symlink);
            q.Loc = new WireLoc(default, Gfid.Root, S(name));
            q.Name = S([.. "../"u8, .. name]);
            var w = new BodyWriter();
            FopCodec.WriteRequest(w, q);
            var body = w.Written.ToArray();
            Assert.True(body.AsSpan().IndexOf(Field(name)) >= 0, $"{Convert.ToHexString(name)} is not in the body as its own bytes");

            Assert.True(FopCodec.TryReadRequest(FopOp.Symlink, FrameFlags.None, body, out var back));
            Assert.Equal(q.Loc.Name, back.Loc.Name);
            Assert.Equal(q.Name, back.Name);
            Assert.Equal(name, NameBytes.GetBytes(back.Loc.Name!));
        }
    }

    [Fact]
    public void Directory_entries_readlink_targets_and_xattr_names_come_back_byte_for_byte()
    {
        var p = WireCodecRoundTrips.SampleReply(FopOp.Readdirp);
        p.Entries = [.. Names.Select((n, i) => new DirEntry { Name = S(n), Gfid = Gfid.NewGfid(), Ino = (ulong)i, NextOffset = i + 1 })];
        p.Text = S(Names[0]);
        p.Names = [S([.. "user."u8, .. Names[1]])];
        foreach (var op in new[] { FopOp.Readdirp, FopOp.Readlink, FopOp.Listxattr })
        {
            var w = new BodyWriter();
            FopCodec.WriteReply(w, op, p);
            Assert.True(FopCodec.TryReadReply(op, FrameFlags.None, w.Written.ToArray(), out var back), $"{op} reply did not decode");
            switch (op)
            {
                case FopOp.Readdirp: Assert.Equal(Names, back.Entries!.Select(e => NameBytes.GetBytes(e.Name))); break;
                case FopOp.Readlink: Assert.Equal(Names[0], NameBytes.GetBytes(back.Text!)); break;
                default: Assert.Equal([.. "user."u8, .. Names[1]], NameBytes.GetBytes(Assert.Single(back.Names!))); break;
            }
        }
    }

    [Fact]
    public void A_body_with_invalid_UTF8_decodes_instead_of_dropping_the_connection()
    {
        // Built by hand, as another implementation (or a brick listing a directory of Latin-1 names) would send it.
        var q = WireCodecRoundTrips.SampleRequest(FopOp.Lookup);
        q.Xdata = null;
        var w = new BodyWriter();
        WireStructs.Write(w, q.Caller);
        w.Gfid(default); w.Gfid(Gfid.Root);
        w.U32(3); w.Raw([0x61, 0xFF, 0x62]);
        Assert.True(FopCodec.TryReadRequest(FopOp.Lookup, FrameFlags.None, w.Written.ToArray(), out var back));
        Assert.Equal("a\uDCFFb", back.Loc.Name);
    }

    [Fact]
    public void A_name_is_still_one_component_whatever_its_bytes()
    {
        // Escapes stand for bytes 0x80..0xFF only, so no sequence of bytes can smuggle a '/' or a NUL past the check:
        // an overlong '/' (C0 AF) stays two escapes, and a real '/' is refused as before.
        foreach (var (bytes, ok) in new (byte[], bool)[] { ([0xC0, 0xAF], true), ([0x61, 0x2F, 0x62], false), ([0x61, 0x00], false) })
        {
            var q = WireCodecRoundTrips.SampleRequest(FopOp.Lookup);
            q.Xdata = null;
            var w = new BodyWriter();
            WireStructs.Write(w, q.Caller);
            w.Gfid(default); w.Gfid(Gfid.Root);
            w.U32((uint)bytes.Length); w.Raw(bytes);
            Assert.Equal(ok, FopCodec.TryReadRequest(FopOp.Lookup, FrameFlags.None, w.Written.ToArray(), out _));
        }
    }
}
