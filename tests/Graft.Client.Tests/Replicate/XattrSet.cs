using System.Runtime.InteropServices;

namespace Graft.Client.Tests.Distribute;

/// <summary>Sets a brick's xattrs directly, to construct states (a split brain) a test then looks at through the volume.</summary>
internal static unsafe partial class Xattr
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    public static void Set(string path, string name, byte[] value)
    {
        fixed (byte* v = value) Assert.Equal(0, lsetxattr(path, name, v, (nuint)value.Length, 0));
    }
}
