using System.Runtime.InteropServices;
using System.Text;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>READDIR records are padded to 8 bytes with zeros, carry the next entry's cookie, and are never cut.</summary>
public class DirentPackingTests
{
    [Fact]
    public void Records_are_padded_to_8_bytes_with_the_next_cookie()
    {
        var buf = new byte[256];
        buf.AsSpan().Fill(0xEE);
        var w = new DirentWriter(buf, plus: false);
        Assert.True(w.TryAdd("a"u8, 10, 8, 1));
        Assert.True(w.TryAdd("abcdefghi"u8, 11, 4, 2));
        Assert.Equal(32 + 40, w.Length); // 24+1 → 32, 24+9 → 40

        var d0 = MemoryMarshal.Read<FuseDirent>(buf);
        Assert.Equal((10ul, 1ul, 1u, 8u), (d0.Ino, d0.Off, d0.NameLen, d0.Type));
        Assert.Equal((byte)'a', buf[24]);
        Assert.All(buf[25..32], b => Assert.Equal(0, b));
        var d1 = MemoryMarshal.Read<FuseDirent>(buf.AsSpan(32));
        Assert.Equal((11ul, 2ul, 9u, 4u), (d1.Ino, d1.Off, d1.NameLen, d1.Type));
        Assert.Equal("abcdefghi", Encoding.ASCII.GetString(buf, 56, 9));
        Assert.All(buf[65..72], b => Assert.Equal(0, b));
        Assert.Equal(0xEE, buf[72]); // nothing written past the last record
    }

    [Fact]
    public void A_record_that_does_not_fit_is_not_written()
    {
        var buf = new byte[60];
        var w = new DirentWriter(buf, plus: false);
        Assert.True(w.TryAdd("abcdefgh"u8, 1, 8, 1));   // 32 bytes
        Assert.False(w.TryAdd("abcdefgh"u8, 2, 8, 2));  // would need 64
        Assert.Equal(32, w.Length);
    }

    [Fact]
    public void Plus_records_carry_the_entry_before_the_dirent()
    {
        var buf = new byte[512];
        var w = new DirentWriter(buf, plus: true);
        var e = new FuseEntryOut { NodeId = 7, Generation = 3, Attr = new FuseAttr { Ino = 7, Mode = 0x81A4 } };
        Assert.True(w.TryAddPlus("file"u8, e, 5));
        Assert.Equal(DirentWriter.RecordSize(4, plus: true), w.Length);
        Assert.Equal(160, w.Length); // 128 + 24 + 4 → 156 → 160
        Assert.Equal(7ul, MemoryMarshal.Read<FuseEntryOut>(buf).NodeId);
        var d = MemoryMarshal.Read<FuseDirent>(buf.AsSpan(128));
        Assert.Equal((7ul, 5ul, 4u, 8u), (d.Ino, d.Off, d.NameLen, d.Type)); // DT_REG = 8
    }
}
