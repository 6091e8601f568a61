using System.Runtime.InteropServices;

namespace Graft.Xlators.Tests.Posix;

/// <summary>Reads xattrs of a path directly (not through the brick), to check what the brick wrote.</summary>
internal static unsafe partial class XattrProbe
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    /// <summary>Writes an xattr behind the brick's back (to fake data copied with its xattrs).</summary>
    public static void Set(string path, string name, byte[] value)
    {
        fixed (byte* v = value) Assert.Equal(0, lsetxattr(path, name, v, (nuint)value.Length, 0));
    }

    public static bool Has(string path, string name) => lgetxattr(path, name, null, 0) >= 0;
}
