using System.Text;
using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Features.Index;

/// <summary>
/// The objects that need heal, as a directory of empty files named by GFID. A file is created with
/// O_CREAT|O_EXCL and removed with unlink, each one atomic step of the brick's filesystem, so the
/// index is whole at any moment, and it outlives the process: a restarted brick finds it as it was.
/// </summary>
/// <remarks>
/// Not fsync'd: an entry follows an xattrop whose own xattr write is not synced either, so after a
/// crash of the machine the two are as old as each other.
/// </remarks>
internal sealed class PendingIndex(string directory)
{
    public string Directory { get; } = directory;

    public void Create() => System.IO.Directory.CreateDirectory(Directory);

    /// <summary>Records <paramref name="g"/> (OK when it was already); <paramref name="added"/>: it was not before.</summary>
    /// <remarks>One open(O_CREAT|O_EXCL) and its close, nothing more: this runs for every pre-op on the brick.</remarks>
    public unsafe Errno Add(Gfid g, out bool added)
    {
        added = false;
        Span<byte> z = stackalloc byte[PathMax];
        if (!PathZ(g, z)) return Errno.ENAMETOOLONG;
        int fd;
        fixed (byte* p = z) fd = Libc.openat(Libc.AT_FDCWD, p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
        if (fd < 0) return Libc.Errno() == EEXIST ? Errno.OK : Failure();
        Libc.close(fd);
        added = true;
        return Errno.OK;
    }

    /// <summary>Forgets <paramref name="g"/> (OK when it was not recorded); <paramref name="removed"/>: it was.</summary>
    /// <remarks>One unlink: its ENOENT says the entry was not there, so nothing is looked at first.</remarks>
    public unsafe Errno Remove(Gfid g, out bool removed)
    {
        removed = false;
        Span<byte> z = stackalloc byte[PathMax];
        if (!PathZ(g, z)) return Errno.ENAMETOOLONG;
        int r;
        fixed (byte* p = z) r = Libc.unlinkat(Libc.AT_FDCWD, p, 0);
        if (r != 0) return Libc.Errno() == ENOENT ? Errno.OK : Failure();
        removed = true;
        return Errno.OK;
    }

    private const int PathMax = 4096, ENOENT = 2, EACCES = 13, EEXIST = 17;
    private readonly byte[] _dirBytes = Encoding.UTF8.GetBytes(directory + "/");

    /// <summary>The entry's path, NUL-terminated, into <paramref name="z"/>; false when it does not fit.</summary>
    private bool PathZ(Gfid g, Span<byte> z)
    {
        var name = g.ToString();
        if (_dirBytes.Length + name.Length + 1 > z.Length) return false;
        _dirBytes.CopyTo(z);
        int n = _dirBytes.Length + Encoding.ASCII.GetBytes(name, z[_dirBytes.Length..]);
        z[n] = 0;
        return true;
    }

    private static Errno Failure() => Libc.Errno() == EACCES ? Errno.EACCES : Errno.EIO;

    /// <summary>The recorded GFIDs greater than <paramref name="after"/>, in ascending order (names that are not GFIDs are ignored).</summary>
    public List<Gfid> After(Gfid after)
    {
        var all = new List<Gfid>();
        foreach (var f in System.IO.Directory.EnumerateFiles(Directory))
            if (Gfid.TryParse(Path.GetFileName(f.AsSpan()), out var g) && g.CompareTo(after) > 0) all.Add(g);
        all.Sort();
        return all;
    }
}
