using System.Text;
using System.Text.RegularExpressions;
using Graft.Core;

namespace Graft.Core.Tests;

/// <summary>
/// Linux names are bytes. <see cref="NameBytes"/> maps every byte string to a string and back unchanged: valid
/// UTF-8 to the text it spells, each byte of an invalid sequence to U+DC80..U+DCFF (PEP 383).
/// </summary>
public class NameBytesRoundTrip
{
    static void AssertRoundTrip(ReadOnlySpan<byte> bytes, Span<byte> scratch)
    {
        var s = NameBytes.GetString(bytes);
        int n = NameBytes.GetByteCount(s);
        if (n != bytes.Length || NameBytes.GetBytes(s, scratch) != n || !scratch[..n].SequenceEqual(bytes) || !NameBytes.IsCanonical(s))
            Assert.Fail($"{Convert.ToHexString(bytes)} -> {Escaped(s)} -> {Convert.ToHexString(scratch[..Math.Min(n, scratch.Length)])} (canonical: {NameBytes.IsCanonical(s)})");
    }

    static string Escaped(string s) => string.Concat(s.Select(c => c < 0x80 && !char.IsControl(c) ? c.ToString() : $"\\u{(int)c:X4}"));

    [Fact]
    public void Every_byte_string_of_up_to_three_bytes_comes_back_unchanged()
    {
        // 16.8 million strings, split over the cores: each worker owns its scratch buffers.
        Parallel.For(0, 256, first =>
        {
            Span<byte> b = stackalloc byte[3];
            Span<byte> scratch = stackalloc byte[16];
            b[0] = (byte)first;
            AssertRoundTrip(b[..1], scratch);
            for (int second = 0; second < 256; second++)
            {
                b[1] = (byte)second;
                AssertRoundTrip(b[..2], scratch);
                for (int third = 0; third < 256; third++)
                {
                    b[2] = (byte)third;
                    AssertRoundTrip(b, scratch);
                }
            }
        });
        AssertRoundTrip([], new byte[1]);
    }

    [Fact]
    public void Random_byte_strings_up_to_4096_bytes_come_back_unchanged()
    {
        var rng = new Random(20261125);
        var scratch = new byte[4096 * 3];
        for (int i = 0; i < 20000; i++)
        {
            var b = new byte[rng.Next(0, i % 100 == 0 ? 4097 : 40)];
            rng.NextBytes(b);
            // Mostly-valid text with a few bad bytes is the interesting case: mix in UTF-8 of real characters.
            if (i % 2 == 0 && b.Length > 12)
            {
                var text = Encoding.UTF8.GetBytes("é日😀a");
                text.CopyTo(b.AsSpan(rng.Next(0, b.Length - text.Length)));
            }
            AssertRoundTrip(b, scratch);
        }
    }

    [Theory]
    [InlineData("FFFE", "\\uDCFF\\uDCFE")]              // never valid UTF-8
    [InlineData("636166E9", "caf\\uDCE9")]              // Latin-1 "café"
    [InlineData("618062", "a\\uDC80b")]                 // a lone continuation byte
    [InlineData("C0AF", "\\uDCC0\\uDCAF")]              // an overlong encoding of '/'
    [InlineData("EDA080", "\\uDCED\\uDCA0\\uDC80")]     // a surrogate (U+D800) encoded in UTF-8
    [InlineData("E282", "\\uDCE2\\uDC82")]              // a truncated sequence
    [InlineData("636166C3A9", "café")]                  // valid UTF-8 stays as it is
    [InlineData("F09F9880", "😀")]                       // four bytes, a surrogate pair in .NET
    public void Invalid_bytes_become_escapes_and_valid_text_stays_text(string hex, string expected)
    {
        var bytes = Convert.FromHexString(hex);
        expected = Regex.Unescape(expected);
        Assert.Equal(expected, NameBytes.GetString(bytes));
        Assert.Equal(bytes, NameBytes.GetBytes(expected));
    }

    [Theory]
    [InlineData("\\uD800")]                             // a lone high surrogate names no bytes
    [InlineData("a\\uDC41")]                            // an escape below U+DC80 (bytes under 0x80 are never escaped)
    [InlineData("\\uDCC3\\uDCA9")]                      // escapes that spell "é": its bytes decode to "é", not back to them
    [InlineData("x\\uDCF0\\uDC9F\\uDC98\\uDC80")]       // escapes that spell 😀
    [InlineData("\\uDFFF\\uD800")]                      // a pair in the wrong order
    public void Strings_that_name_no_bytes_or_not_only_these_are_not_canonical(string s)
    {
        s = Regex.Unescape(s);
        Assert.False(NameBytes.IsCanonical(s));
        Assert.NotEqual(s, NameBytes.GetString(NameBytes.GetBytes(s)));
    }

    [Fact]
    public void Canonical_means_the_string_comes_back_from_its_own_bytes()
    {
        // Strings over an alphabet that mixes text, pairs, escapes that may or may not spell UTF-8, and lone
        // surrogates outside the escapes: IsCanonical must agree with the round trip on every one.
        string[] alphabet = ["a", "/", "é", "😀", "\uD83D", "\uDE00", "\uDC80", "\uDCBF", "\uDCC3", "\uDCA9", "\uDCE2", "\uDC82",
            "\uDCF0", "\uDC9F", "\uDC98", "\uDCFF", "\uDC7F", "\uD800"];
        var rng = new Random(7);
        for (int i = 0; i < 50000; i++)
        {
            var sb = new StringBuilder();
            for (int k = rng.Next(0, 7); k > 0; k--) sb.Append(alphabet[rng.Next(alphabet.Length)]);
            var s = sb.ToString();
            bool roundTrips = NameBytes.GetString(NameBytes.GetBytes(s)) == s;
            Assert.True(roundTrips == NameBytes.IsCanonical(s), $"{Escaped(s)}: round trip {roundTrips}, canonical {NameBytes.IsCanonical(s)}");
        }
    }

    [Fact]
    public void Encoding_a_string_that_names_no_bytes_is_still_total()
    {
        // Front ends refuse such strings; a layer that encodes one anyway gets U+FFFD for the stray surrogate, as
        // Encoding.UTF8 would, and the escapes' own bytes.
        Assert.Equal(Convert.FromHexString("61EFBFBD62FF"), NameBytes.GetBytes("a\uD800b\uDCFF"));
        Assert.Equal(6, NameBytes.GetByteCount("a\uD800b\uDCFF"));
    }
}
