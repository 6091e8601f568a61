using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Xlators.Tests.Distribute;

/// <summary>
/// The name hash decides where every file lives: these vectors pin it for ever. They are XXH32
/// (seed 0) of the name's bytes (UTF-8, or the raw bytes of a name that is not UTF-8), as the reference implementation computes them; if one fails, a
/// change would move data and leave existing files unfound.
/// </summary>
public class DhtHashIsFixed
{
    [Theory]
    [InlineData("", 0x02CC5D05u)]
    [InlineData("a", 0x550D7456u)]
    [InlineData("abc", 0x32D153FFu)]
    [InlineData("file-0001", 0x8D7509C5u)]
    [InlineData("file-0002", 0xB271F906u)]
    [InlineData("0123456789abcdef", 0xC2C45B69u)]
    [InlineData("0123456789abcdefXYZ", 0x855ED232u)]
    [InlineData("héllo wörld, a longer name of 40 bytes!!", 0x27505CB8u)]
    public void Names_hash_to_the_same_values_for_ever(string name, uint expected) => Assert.Equal(expected, DhtHash.OfName(name));

    [Fact]
    public void Long_names_hash_their_bytes_like_short_ones()
    {
        var name = new string('x', 255) + "é";
        Assert.Equal(DhtHash.Xxh32(System.Text.Encoding.UTF8.GetBytes(name)), DhtHash.OfName(name));
    }

    [Fact]
    public void A_name_that_is_not_utf8_hashes_its_raw_bytes_not_a_replacement()
    {
        byte[] raw = [(byte)'f', 0xFF, (byte)'o', 0xC3]; // 0xFF is never UTF-8; 0xC3 is a cut-off sequence
        var name = NameBytes.GetString(raw);
        Assert.Equal(DhtHash.Xxh32(raw), DhtHash.OfName(name));
        Assert.NotEqual(DhtHash.OfName("f\uFFFDo\uFFFD"), DhtHash.OfName(name));
        // Two names that differ only in which invalid byte they hold hash differently.
        Assert.NotEqual(DhtHash.OfName(NameBytes.GetString([(byte)'f', 0xFE])), DhtHash.OfName(NameBytes.GetString([(byte)'f', 0xFF])));
    }
}
