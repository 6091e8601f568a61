using System.Text;
using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Features.Index;

/// <summary>
/// The objects that need heal, as a directory of names, one per GFID. Each name is a hard link of
/// one empty file kept beside the directory (<c>pending-base</c>): recording an object is one
/// linkat, forgetting it one unlink, each one atomic step of the brick's filesystem, so the index
/// is whole at any moment, and it outlives the process: a restarted brick finds it as it was.
/// </summary>
/// <remarks>
/// Links, not a file each: every transaction on every copy records and forgets its object, and a
/// file each allocated and freed one inode per transaction. ext4 then skips each inode freed in the
/// last minutes when it allocates one (recently_deleted), so the index's churn made every create on
/// the brick — the index's own and the clients' — scan further (a fifth of a replica brick's CPU in a
/// create workload). A link allocates nothing. The base is replaced (a new empty file renamed over
/// its name; the names linked to the old one stay) when it is missing or has all the links the
/// filesystem allows (EMLINK); a filesystem without hard links gets a file each, as before.
/// Not fsync'd: an entry follows an xattrop whose own xattr write is not synced either, so after a
/// crash of the machine the two are as old as each other.
/// </remarks>
internal sealed class PendingIndex(string directory)
{
    public string Directory { get; } = directory;

    /// <summary>The file every entry is a link of, beside the directory (so a listing of the directory holds only entries).</summary>
    public string BasePath { get; } = BaseOf(directory);

    private readonly byte[] _baseZ = Encoding.UTF8.GetBytes(BaseOf(directory) + "\0");
    private readonly Lock _rotate = new();
    private volatile bool _links = true;

    public void Create()
    {
        System.IO.Directory.CreateDirectory(Directory);
        if (NewBase() != 0) _links = false;
    }

    /// <summary>Records <paramref name="g"/> (OK when it was already); <paramref name="added"/>: it was not before.</summary>
    /// <remarks>One linkat, nothing more: this runs for every pre-op on the brick.</remarks>
    public unsafe Errno Add(Gfid g, out bool added)
    {
        added = false;
        Span<byte> z = stackalloc byte[PathMax];
        if (!PathZ(g, z)) return Errno.ENAMETOOLONG;
        for (int attempt = 0; _links; attempt++)
        {
            int r;
            fixed (byte* b = _baseZ) fixed (byte* p = z) r = Libc.linkat(Libc.AT_FDCWD, b, Libc.AT_FDCWD, p, 0);
            if (r == 0) { added = true; return Errno.OK; }
            int e = Libc.Errno();
            if (e == EEXIST) return Errno.OK;
            // The base is gone, or full: a new one, and once more. ENOENT again: the directory itself is missing.
            if (e is ENOENT or EMLINK && attempt == 0)
            {
                int n = NewBase();
                if (n != 0) return Failure(n);
                continue;
            }
            if (e is EPERM or EXDEV or EOPNOTSUPP) { _links = false; break; }
            return Failure(e);
        }
        int fd;
        fixed (byte* p = z) fd = Libc.openat(Libc.AT_FDCWD, p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x180);
        if (fd < 0)
        {
            int e = Libc.Errno();
            return e == EEXIST ? Errno.OK : Failure(e);
        }
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
        if (r != 0)
        {
            int e = Libc.Errno();
            return e == ENOENT ? Errno.OK : Failure(e);
        }
        removed = true;
        return Errno.OK;
    }

    /// <summary>
    /// A new empty base, renamed over the old one's name in one step (links taken meanwhile land on
    /// one or the other; both are good). 0, or the errno.
    /// </summary>
    private unsafe int NewBase()
    {
        lock (_rotate)
        {
            var tmp = Encoding.UTF8.GetBytes(BasePath + ".new\0");
            int fd;
            fixed (byte* t = tmp) fd = Libc.openat(Libc.AT_FDCWD, t, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_CLOEXEC, 0x180);
            if (fd < 0) return Libc.Errno();
            Libc.close(fd);
            int r;
            fixed (byte* t = tmp) fixed (byte* b = _baseZ) r = Libc.renameat2(Libc.AT_FDCWD, t, Libc.AT_FDCWD, b, 0);
            return r == 0 ? 0 : Libc.Errno();
        }
    }

    private static string BaseOf(string directory) =>
        Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(directory)) ?? directory, "pending-base");

    private const int PathMax = 4096, EPERM = 1, ENOENT = 2, EXDEV = 18, EACCES = 13, EEXIST = 17, EMLINK = 31, EOPNOTSUPP = 95;
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

    private static Errno Failure(int errno) => errno == EACCES ? Errno.EACCES : Errno.EIO;

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
