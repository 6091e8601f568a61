using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Graft.Core;

/// <summary>
/// The one mapping between the bytes of a Linux name (a file name, a symlink target, an xattr name) and the
/// .NET string that stands for it. Linux names are bytes, not text: any byte but NUL (and '/' in a file
/// name) may appear, and a name need not be valid UTF-8. Valid UTF-8 maps to the string it spells, so
/// ordinary names, logs and code are unaffected; each byte of an invalid sequence maps to a lone low
/// surrogate U+DC80..U+DCFF (byte 0x80..0xFF — bytes below 0x80 are always valid), the scheme of
/// Python's PEP 383 "surrogateescape". Every byte string maps to a string and back unchanged.
/// </summary>
/// <remarks>
/// Not every string names bytes: a lone surrogate outside U+DC80..U+DCFF names none, and neither does a run
/// of escapes whose bytes would spell valid UTF-8 ("\uDCC3\uDCA9" would be the bytes of "é", which decodes
/// to "é", not back to the escapes). <see cref="IsCanonical"/> tells them apart; front ends refuse such
/// strings (EINVAL) so that two different strings never name the same file. Encoding one anyway
/// (<see cref="GetBytes(ReadOnlySpan{char}, Span{byte})"/>) is total and deterministic: escapes become
/// their bytes and other lone surrogates U+FFFD's, as <see cref="Encoding.UTF8"/> would.
/// </remarks>
public static class NameBytes
{
    private const char EscapeFirst = '\uDC80', EscapeLast = '\uDCFF';
    private const int EscapeBase = 0xDC00;
    private const int StackChars = 512;
    // U+FFFD in UTF-8: what a lone surrogate that names no byte is encoded as (Encoding.UTF8 does the same).
    private static ReadOnlySpan<byte> Replacement => [0xEF, 0xBF, 0xBD];

    /// <summary>The string standing for <paramref name="bytes"/>. Total: never fails, never loses a byte.</summary>
    public static string GetString(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        // Each byte yields at most one char (a valid 4-byte sequence yields 2), so bytes.Length chars suffice.
        char[]? rented = null;
        Span<char> chars = bytes.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        int n = 0;
        while (true)
        {
            var status = Utf8.ToUtf16(bytes, chars[n..], out int read, out int written, replaceInvalidSequences: false);
            n += written;
            bytes = bytes[read..];
            if (status == OperationStatus.Done) break;
            // An invalid (or truncated) sequence: escape its first byte and decode on from the next. A byte after
            // it cannot start a sequence the decoder just refused (it is a continuation byte or itself invalid),
            // so this escapes exactly the bytes of the invalid sequence, one by one.
            chars[n++] = (char)(EscapeBase + bytes[0]);
            bytes = bytes[1..];
        }
        var s = new string(chars[..n]);
        if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        return s;
    }

    /// <summary>The number of bytes <see cref="GetBytes(ReadOnlySpan{char}, Span{byte})"/> writes for <paramref name="s"/>.</summary>
    public static int GetByteCount(ReadOnlySpan<char> s) =>
        !s.ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetByteCount(s) : Encode(s, default, write: false);

    /// <summary>Writes the bytes <paramref name="s"/> stands for into <paramref name="dest"/> (at least
    /// <see cref="GetByteCount"/> long) and returns how many. Allocates nothing.</summary>
    public static int GetBytes(ReadOnlySpan<char> s, Span<byte> dest) =>
        !s.ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetBytes(s, dest) : Encode(s, dest, write: true);

    /// <summary>The bytes <paramref name="s"/> stands for, as a new array.</summary>
    public static byte[] GetBytes(string s)
    {
        var b = new byte[GetByteCount(s)];
        GetBytes(s, b);
        return b;
    }

    /// <summary>
    /// True when <paramref name="s"/> names exactly one byte string and <see cref="GetString"/> gives it back:
    /// no lone surrogate outside the escapes, and no run of escapes whose bytes spell valid UTF-8. Every string
    /// <see cref="GetString"/> returns is canonical. Cheap for strings without surrogates (one vector scan).
    /// </summary>
    public static bool IsCanonical(ReadOnlySpan<char> s)
    {
        int i = s.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return true;
        Span<byte> window = stackalloc byte[4];
        while (i < s.Length)
        {
            char c = s[i];
            if (!char.IsSurrogate(c)) { i++; continue; }
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i += 2;
                continue;
            }
            if (c is < EscapeFirst or > EscapeLast) return false;
            // A run of escapes stands for bytes 0x80..0xFF, which the characters around it cannot complete: a valid
            // character's bytes start with a byte below 0x80 or a lead byte, never a continuation. So the run is
            // canonical exactly when no position in it starts a valid sequence of the run's own bytes.
            int end = i;
            while (end < s.Length && s[end] is >= EscapeFirst and <= EscapeLast) end++;
            for (int at = i; at < end; at++)
            {
                int len = Math.Min(4, end - at);
                for (int k = 0; k < len; k++) window[k] = (byte)(s[at + k] - EscapeBase);
                if (Rune.DecodeFromUtf8(window[..len], out _, out _) == OperationStatus.Done) return false;
            }
            i = end;
        }
        return true;
    }

    /// <summary>The slow path, for strings with surrogates: pairs as UTF-8, escapes as their byte, any other
    /// lone surrogate as U+FFFD. Counts only when <paramref name="write"/> is false.</summary>
    private static int Encode(ReadOnlySpan<char> s, Span<byte> dest, bool write)
    {
        int n = 0;
        while (!s.IsEmpty)
        {
            int plain = s.IndexOfAnyInRange('\uD800', '\uDFFF');
            if (plain < 0) plain = s.Length;
            if (plain > 0)
            {
                n += write ? Encoding.UTF8.GetBytes(s[..plain], dest[n..]) : Encoding.UTF8.GetByteCount(s[..plain]);
                s = s[plain..];
                continue;
            }
            char c = s[0];
            if (char.IsHighSurrogate(c) && s.Length > 1 && char.IsLowSurrogate(s[1]))
            {
                n += write ? Encoding.UTF8.GetBytes(s[..2], dest[n..]) : 4;
                s = s[2..];
            }
            else if (c is >= EscapeFirst and <= EscapeLast)
            {
                if (write) dest[n] = (byte)(c - EscapeBase);
                n++;
                s = s[1..];
            }
            else
            {
                if (write) Replacement.CopyTo(dest[n..]);
                n += Replacement.Length;
                s = s[1..];
            }
        }
        return n;
    }
}
