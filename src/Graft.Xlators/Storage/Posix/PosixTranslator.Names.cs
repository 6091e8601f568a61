using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// Names, byte strings for the kernel, and the xattr that carries each object's GFID.
public sealed partial class PosixTranslator
{
    internal const int NameMax = 255;
    /// <summary>A name's bytes plus NUL.</summary>
    internal const int NameBufLen = NameMax + 1;
    private const int ProcPathLen = 32;

    private static Errno LastErr() => (Errno)Libc.Errno();

    /// <summary>
    /// Checks a client-supplied name and writes its bytes (<see cref="NameBytes"/>), NUL-terminated, into
    /// <paramref name="z"/> (at least <see cref="NameBufLen"/> bytes). A name is one path component: never empty,
    /// '.', '..', and without '/' or NUL, at most NAME_MAX bytes; a string that stands for no bytes (a stray
    /// surrogate) is not a name.
    /// </summary>
    internal static Errno EncodeName(string? name, Span<byte> z)
    {
        if (string.IsNullOrEmpty(name) || name == "." || name == "..") return Errno.EINVAL;
        if (name.AsSpan().IndexOfAny('/', '\0') >= 0 || !NameBytes.IsCanonical(name)) return Errno.EINVAL;
        if (name.Length > NameMax || NameBytes.GetByteCount(name) > NameMax) return Errno.ENAMETOOLONG;
        int n = NameBytes.GetBytes(name, z);
        z[n] = 0;
        return Errno.OK;
    }

    /// <summary>The brick's private directory, seen from the root: invisible and untouchable.</summary>
    private static bool IsPrivate(Gfid parent, string? name) => parent.IsRoot && name == GraftDirName;

    /// <summary>"/proc/self/fd/N": reaching an O_PATH fd's own inode (symlink or not) where no *at form exists.</summary>
    private static void ProcPath(int fd, Span<byte> z)
    {
        "/proc/self/fd/"u8.CopyTo(z);
        fd.TryFormat(z[14..], out int n, default, System.Globalization.CultureInfo.InvariantCulture);
        z[14 + n] = 0;
    }

    private static ReadOnlySpan<byte> GfidXattrZ => "trusted.graft.gfid\0"u8;

    /// <summary>Reads the GFID xattr of the object <paramref name="fd"/> (O_PATH or not). ENODATA when it has none.</summary>
    private static unsafe Errno ReadGfid(int fd, out Gfid gfid)
    {
        gfid = default;
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        Span<byte> v = stackalloc byte[16];
        nint n;
        fixed (byte* pp = path) fixed (byte* pn = GfidXattrZ) fixed (byte* pv = v)
            n = Libc.getxattr(pp, pn, pv, 16);
        if (n < 0) return LastErr() == Errno.ERANGE ? Errno.ENODATA : LastErr();
        if (n != 16) return Errno.ENODATA;
        gfid = Gfid.FromBytes(v);
        return gfid.IsZero ? Errno.ENODATA : Errno.OK;
    }

    /// <summary>Stamps a GFID on an object that has none (XATTR_CREATE: never overwrites one), or replaces one.</summary>
    private static unsafe Errno WriteGfid(int fd, Gfid gfid, bool replace = false)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        Span<byte> v = stackalloc byte[16];
        gfid.WriteBytes(v);
        fixed (byte* pp = path) fixed (byte* pn = GfidXattrZ) fixed (byte* pv = v)
            return Libc.setxattr(pp, pn, pv, 16, replace ? Libc.XATTR_REPLACE : Libc.XATTR_CREATE) == 0 ? Errno.OK : LastErr();
    }

    /// <summary><see cref="WriteGfid"/> (XATTR_CREATE) through an fd that is not O_PATH: fsetxattr, no /proc walk.</summary>
    private static unsafe Errno WriteGfidOpen(int fd, Gfid gfid)
    {
        Span<byte> v = stackalloc byte[16];
        gfid.WriteBytes(v);
        fixed (byte* pn = GfidXattrZ) fixed (byte* pv = v)
            return Libc.fsetxattr(fd, pn, pv, 16, Libc.XATTR_CREATE) == 0 ? Errno.OK : LastErr();
    }

    /// <summary>Removes the GFID xattr again (undoing a stamp whose handle could not be made).</summary>
    private static unsafe void RemoveGfid(int fd)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        fixed (byte* pp = path) fixed (byte* pn = GfidXattrZ) Libc.removexattr(pp, pn);
    }

    private object NameLock(Gfid parent, string name) =>
        _nameLocks[(int)((uint)HashCode.Combine(parent, name) % (uint)_nameLocks.Length)];

    /// <summary>A directory's attributes as stat reports them (<see cref="FopContext.PostParent"/>), or null when fstat fails.</summary>
    private static Iatt? DirAttrs(int dirFd, Gfid gfid) => FStat(dirFd, out var st) == Errno.OK ? ToIatt(st, gfid) : null;

    private static Iatt ToIatt(in Stat st, Gfid gfid)
    {
        var nlink = (uint)st.Nlink;
        // A non-directory's handle is one of its hard links; clients never see it.
        if (!FileMode.IsDir(st.Mode) && !gfid.IsZero && nlink > 0) nlink--;
        // The root's ".." link count includes the private .graft directory, which clients never see.
        else if (gfid.IsRoot && nlink > 2) nlink--;
        return new Iatt
        {
            Gfid = gfid,
            Ino = gfid.IsZero ? st.Ino : Iatt.InoOf(gfid),
            Mode = st.Mode,
            Nlink = nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Rdev = st.Rdev,
            Size = st.Size,
            Blocks = st.Blocks,
            Blksize = (int)st.Blksize,
            Atime = new Timespec(st.Atime, (uint)st.AtimeNsec),
            Mtime = new Timespec(st.Mtime, (uint)st.MtimeNsec),
            Ctime = new Timespec(st.Ctime, (uint)st.CtimeNsec),
        };
    }

    private static unsafe Errno FStat(int fd, out Stat st)
    {
        fixed (Stat* p = &st) return Libc.fstat(fd, p) == 0 ? Errno.OK : LastErr();
    }
}
