using System.Buffers.Binary;
using System.Text;
using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// A file being moved off this brick by a rebalance (docs/distribute.md, "Moving files"). The rebalance
// opens the file read-only and marks it through that fd. A mark is refused (EBUSY) while the file has a
// writer — an fd open for writing or with O_TRUNC, or a change (setattr, xattr, unlink, rename, link) in
// progress — and while it is on, every such writer is refused with EINPROGRESS, which distribute turns
// into a bounded wait. Both sides decide under one lock (the open counts'), so "is anyone writing?" and
// "a writer starts" cannot interleave. A mark lives in memory with the fd that holds it: a rebalance that
// dies loses its marks when the brick releases its fds. Once its copy is verified the rebalance retires
// the file through the same fd — an xattr on disk, so it holds across a brick restart: a retired file is
// never writable again, only the rebalance's unlink-migrated removes its name, and once no name is left
// it is not found by GFID (ESTALE), so clients find the copy that replaced it.
public sealed partial class PosixTranslator
{
    /// <summary>
    /// On a read-only fd of a file, root only. fsetxattr: mark the file (EBUSY: it has a writer; EALREADY:
    /// marked through another fd; EEXIST: retired already). fgetxattr: how long the oldest writer refused
    /// because of the mark has been waiting, in ms (8 bytes big-endian; 0: none); ENODATA if this fd holds
    /// no mark. fremovexattr: unmark. getxattr by loc: "1" while the file is marked (for tests and tools).
    /// </summary>
    public const string MigratingXattr = ClusterXattrPrefix + "migrating";

    /// <summary>Set through the fd that holds the mark: retires the file (an xattr on disk; its value says where it went).</summary>
    public const string MigratedXattr = ClusterXattrPrefix + "migrated";

    /// <summary>setxattr on a directory, root only, the value an entry's name: unlinks that entry if it is a retired file (else EINVAL).</summary>
    public const string UnlinkMigratedXattr = ClusterXattrPrefix + "unlink-migrated";

    private static readonly byte[] MigratedXattrZ = Encoding.UTF8.GetBytes(MigratedXattr + "\0");

    private Dictionary<Gfid, int> _writerCounts = new();
    private Dictionary<Gfid, MoveMark> _marks = new();

    private static bool OpensForWriting(int flags) =>
        (flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) != 0;

    /// <summary>
    /// Counts a writer of file <paramref name="g"/> (an fd open for writing, or one change in progress),
    /// unless a move holds the file: EINPROGRESS. <paramref name="objFd"/> (any fd of the object; -1 for a
    /// file just made) is checked for retirement after counting, so a retirement — which needs the mark,
    /// which needs no writer — is either seen here or can no longer happen.
    /// </summary>
    private Errno BeginWrite(Gfid g, int objFd)
    {
        lock (_openLock)
        {
            if (_marks.TryGetValue(g, out var m))
            {
                if (m.FirstRefusedAt == 0) m.FirstRefusedAt = Math.Max(1, Environment.TickCount64);
                return Errno.EINPROGRESS;
            }
            _writerCounts[g] = _writerCounts.GetValueOrDefault(g) + 1;
        }
        if (objFd >= 0 && IsRetired(objFd))
        {
            EndWrite(g);
            return Errno.EINPROGRESS;
        }
        return Errno.OK;
    }

    private void EndWrite(Gfid g)
    {
        lock (_openLock)
        {
            var n = _writerCounts.GetValueOrDefault(g) - 1;
            if (n > 0) _writerCounts[g] = n;
            else _writerCounts.Remove(g);
        }
    }

    /// <summary>
    /// <see cref="BeginWrite"/> for a change to the object behind O_PATH fd <paramref name="objFd"/>: only
    /// regular files are ever moved, so anything else needs no count (returns a zero GFID: nothing to end).
    /// </summary>
    private Errno BeginChange(int objFd, in Stat st, Gfid known, out Gfid counted)
    {
        counted = default;
        if (!FileMode.IsReg(st.Mode)) return Errno.OK;
        var g = known;
        if (g.IsZero && ReadGfid(objFd, out g) != Errno.OK) return Errno.OK; // no GFID: never marked
        var e = BeginWrite(g, objFd);
        if (e == Errno.OK) counted = g;
        return e;
    }

    private void EndChange(Gfid counted)
    {
        if (!counted.IsZero) EndWrite(counted);
    }

    private static unsafe bool IsRetired(int fd)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        fixed (byte* pp = path) fixed (byte* pn = MigratedXattrZ) return Libc.getxattr(pp, pn, null, 0) >= 0;
    }

    /// <summary>A retired file with no name left (reached through its handle only): its data lives elsewhere now.</summary>
    private static bool IsRetiredOrphan(int fd, in Stat st) => FileMode.IsReg(st.Mode) && st.Nlink == 1 && IsRetired(fd);

    /// <summary>The move xattrs set through an fd; null when <paramref name="name"/> is not one of them.</summary>
    private Errno? SetMoveXattr(FopContext ctx, PosixFd pf, string name, ReadOnlySpan<byte> value)
    {
        if (name == MigratingXattr) return ctx.IsRoot ? Mark(pf) : Errno.EPERM;
        if (name == MigratedXattr) return ctx.IsRoot ? Retire(pf, value) : Errno.EPERM;
        return null;
    }

    private Errno Mark(PosixFd pf)
    {
        if (pf.IsDir || pf.Writer) return Errno.EINVAL;
        if (IsRetired(pf.Os)) return Errno.EEXIST;
        lock (_openLock)
        {
            if (pf.Closed != 0) return Errno.EBADF;
            if (_marks.TryGetValue(pf.Gfid, out var m)) return ReferenceEquals(m.Holder, pf) ? Errno.OK : Errno.EALREADY;
            if (_writerCounts.ContainsKey(pf.Gfid)) return Errno.EBUSY;
            _marks[pf.Gfid] = new MoveMark(pf);
        }
        return Errno.OK;
    }

    private bool Holds(PosixFd pf)
    {
        lock (_openLock) return _marks.TryGetValue(pf.Gfid, out var m) && ReferenceEquals(m.Holder, pf);
    }

    private unsafe Errno Retire(PosixFd pf, ReadOnlySpan<byte> value)
    {
        if (!Holds(pf)) return Errno.EPERM;
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(pf.Os, path);
        fixed (byte* pp = path) fixed (byte* pn = MigratedXattrZ) fixed (byte* pv = value)
            if (Libc.setxattr(pp, pn, pv, (nuint)value.Length, 0) != 0) return LastErr();
        // On disk before the copy replaces this one: a crash from here on leaves a file nobody can write.
        return Libc.fsync(pf.Os) == 0 ? Errno.OK : LastErr();
    }

    /// <summary>fgetxattr of <see cref="MigratingXattr"/>: how long the oldest refused writer has waited (ms).</summary>
    private Result<byte[]> MarkWaited(PosixFd pf)
    {
        long since;
        lock (_openLock)
        {
            if (!_marks.TryGetValue(pf.Gfid, out var m) || !ReferenceEquals(m.Holder, pf)) return Errno.ENODATA;
            since = m.FirstRefusedAt;
        }
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, since == 0 ? 0 : Math.Max(0, Environment.TickCount64 - since));
        return b;
    }

    /// <summary>Drops the mark <paramref name="pf"/> holds, if any (fremovexattr, and the fd's release).</summary>
    private bool Unmark(PosixFd pf)
    {
        lock (_openLock)
        {
            if (!_marks.TryGetValue(pf.Gfid, out var m) || !ReferenceEquals(m.Holder, pf)) return false;
            _marks.Remove(pf.Gfid);
            return true;
        }
    }

    private bool IsMarked(Gfid g)
    {
        lock (_openLock) return _marks.ContainsKey(g);
    }

    /// <summary>setxattr of <see cref="UnlinkMigratedXattr"/> on a directory: the named entry goes if it is a retired file.</summary>
    private Errno UnlinkMigrated(FopContext ctx, in Loc dir, ReadOnlySpan<byte> name)
    {
        if (!ctx.IsRoot) return Errno.EPERM;
        if (name.Length == 0 || name.Length > NameMax) return Errno.EINVAL;
        var dirGfid = TargetGfid(dir);
        if (dirGfid.IsZero) return Errno.EINVAL;
        return RemoveEntry(ctx, Loc.Child(dirGfid, NameBytes.GetString(name)), dir: false, retiredOnly: true);
    }
}
