using System.Runtime.InteropServices;

namespace Graft.Xlators.Tests.Posix;

/// <summary>Reads xattrs of a path directly (not through the brick), to check what the brick wrote.</summary>
internal static unsafe partial class XattrProbe
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static bool Has(string path, string name) => lgetxattr(path, name, null, 0) >= 0;
}
