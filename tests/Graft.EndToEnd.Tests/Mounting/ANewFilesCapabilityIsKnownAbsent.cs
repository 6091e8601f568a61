using System.Runtime.InteropServices;
using Graft.EndToEnd.Tests.Switching;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// The kernel asks for security.capability before the first write of every open. For a file the mount
/// has just created the answer (none) is known, so the mount gives it without asking the graph, for one
/// attribute timeout; a file it did not create, or one whose xattrs it changed since, is asked about as
/// before. The graph here fails every getxattr that reaches it with EIO.
/// </summary>
public partial class ANewFilesCapabilityIsKnownAbsent
{
    private const int ENODATA = 61, EIO = 5;

    [MountFact]
    public async Task Only_the_new_files_capability_is_answered_without_the_graph()
    {
        // A long attribute timeout: the test must not race it on a loaded machine.
        await using var m = await SwitchingMount.UpAsync("nocaps", "attr_timeout=60");
        // Made on the brick directly: the mount never created it.
        File.WriteAllText(Path.Combine(m.Volume.Brick, "old"), "old");
        await m.ApplyAsync(m.Variant(true, "    option fail getxattr\n    option fail-errno EIO\n"));

        using (var f = new FileStream(m.P("new"), FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite, 0))
            f.Write(new byte[4096]);
        Assert.Equal(ENODATA, GetCapability(m.P("new")));
        Assert.Equal(EIO, GetCapability(m.P("old")));

        Assert.Equal(0, setxattr(m.P("new"), "user.k", [1], 1, 0));
        Assert.Equal(EIO, GetCapability(m.P("new")));
    }

    /// <summary>The errno getxattr(security.capability) fails with (0 if it succeeds).</summary>
    private static int GetCapability(string path)
    {
        var buf = new byte[64];
        return getxattr(path, "security.capability", buf, buf.Length) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint getxattr(string path, string name, byte[] value, nint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setxattr(string path, string name, byte[] value, nint size, int flags);
}
