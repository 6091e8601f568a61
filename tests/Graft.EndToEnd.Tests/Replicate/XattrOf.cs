using System.Runtime.InteropServices;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>A brick's xattrs read and set directly: what replicate left there, and states constructed for a test.</summary>
internal static unsafe partial class XattrOf
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    /// <summary>The value, or empty when there is none.</summary>
    public static byte[] Get(string path, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* b = buf) n = lgetxattr(path, name, b, (nuint)buf.Length);
        return n < 0 ? [] : buf[..(int)n];
    }

    public static void Set(string path, string name, byte[] value)
    {
        fixed (byte* v = value) Assert.Equal(0, lsetxattr(path, name, v, (nuint)value.Length, 0));
    }
}
