using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>An object a fop acts on: an O_PATH fd (owned: close it), its stat and its GFID.</summary>
internal struct PosixObj
{
    public int Fd;
    public Stat St;
    public Gfid Gfid;
    public readonly bool IsDir => FileMode.IsDir(St.Mode);

    public void Close()
    {
        if (Fd >= 0) Libc.close(Fd);
        Fd = -1;
    }
}

// Resolving locs: directories by GFID through the fd cache (walking recorded (parent, name)
// steps from the root and checking each step's GFID), other objects through their handle,
// names one component at a time relative to the parent's fd, never following a symlink.
public sealed partial class PosixTranslator
{
    private const int OPathNoFollow = Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
    private const int DirOpen = Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;

    /// <summary>An fd of directory <paramref name="gfid"/>, referenced: release it with <see cref="DirFdCache.Release"/>.</summary>
    private Errno AcquireDir(Gfid gfid, out DirHandle h)
    {
        // A rename between reading a record and opening its name makes one walk fail; the record
        // is rewritten right after the rename, so one more walk sees the new place.
        var e = WalkToDir(gfid, out h);
        return e == Errno.ESTALE ? WalkToDir(gfid, out h) : e;
    }

    private unsafe Errno WalkToDir(Gfid gfid, out DirHandle h)
    {
        h = null!;
        var dirs = _dirs;
        if (dirs is null) return Errno.ENOTCONN;
        if (gfid.IsZero) return Errno.EINVAL;
        var hit = dirs.TryGet(gfid);
        if (hit is not null) { h = hit; return Errno.OK; }

        // Collect the recorded steps up to a directory whose fd we have (at worst the root).
        var chain = new List<(Gfid Gfid, byte[] NameZ)>();
        DirHandle? at = null;
        for (var cur = gfid; at is null;)
        {
            if (chain.Count > 2048) return Errno.ELOOP;
            var e = ReadDirRecord(cur, out var parent, out var nameZ);
            if (e != Errno.OK) return e == Errno.ENOENT ? Errno.ESTALE : e;
            chain.Add((cur, nameZ));
            at = dirs.TryGet(parent);
            cur = parent;
        }
        // Open downward, one component at a time, checking that each step is the directory recorded.
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            int fd;
            fixed (byte* p = chain[i].NameZ) fd = FdBudget.OpenAt(at.Fd, p, DirOpen, 0);
            var err = LastErr();
            dirs.Release(at);
            if (fd < 0) return err is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP ? Errno.ESTALE : err;
            if (ReadGfid(fd, out var found) != Errno.OK || found != chain[i].Gfid)
            {
                Libc.close(fd);
                return Errno.ESTALE;
            }
            at = dirs.Add(chain[i].Gfid, fd);
        }
        h = at;
        return Errno.OK;
    }

    private void ReleaseDir(DirHandle h) => _dirs?.Release(h);

    private static Gfid TargetGfid(in Loc loc) => !loc.Gfid.IsZero ? loc.Gfid : loc.Inode?.Gfid ?? default;

    private static Gfid ParentOf(in Loc loc) => !loc.ParentGfid.IsZero ? loc.ParentGfid : loc.Parent?.Gfid ?? default;

    /// <summary>
    /// Resolves a loc to an O_PATH fd of its object. A named loc is looked up with the caller's
    /// credentials (so search permission on the parent counts); a nameless one by its handle.
    /// An object found without a GFID gets <paramref name="wanted"/> (or a fresh one).
    /// </summary>
    private unsafe Errno Resolve(FopContext ctx, in Loc loc, out PosixObj obj, Gfid wanted = default)
    {
        obj = new PosixObj { Fd = -1 };
        if (loc.Name is null) return ResolveNameless(TargetGfid(loc), out obj);

        var parent = ParentOf(loc);
        if (IsPrivate(parent, loc.Name)) return Errno.ENOENT;
        Span<byte> z = stackalloc byte[NameBufLen];
        var e = EncodeName(loc.Name, z);
        if (e != Errno.OK) return e;
        e = AcquireDir(parent, out var dir);
        if (e != Errno.OK) return e;
        int fd;
        try
        {
            using (FsCreds.Enter(ctx))
                fixed (byte* p = z) fd = FdBudget.OpenAt(dir.Fd, p, OPathNoFollow, 0);
            if (fd < 0) return LastErr();
        }
        finally { ReleaseDir(dir); }
        obj.Fd = fd;
        e = FStat(fd, out obj.St);
        if (e == Errno.OK) e = EnsureGfid(ref obj, parent, loc.Name, wanted);
        if (e != Errno.OK) obj.Close();
        return e;
    }

    private unsafe Errno ResolveNameless(Gfid gfid, out PosixObj obj)
    {
        obj = new PosixObj { Fd = -1, Gfid = gfid };
        if (gfid.IsZero) return Errno.EINVAL;
        var dirs = _dirs;
        if (dirs is null) return Errno.ENOTCONN;
        int fd;
        bool statted = false; // the handle's fstat is the object's when the handle is the object: not asked twice
        if (dirs.TryGet(gfid) is { } cached) fd = OpenSelf(cached);
        else
        {
            fd = OpenHandle(gfid);
            if (fd < 0) return LastErr() == Errno.ENOENT ? Errno.ESTALE : LastErr();
            if (FStat(fd, out obj.St) != Errno.OK) { Libc.close(fd); return Errno.ESTALE; }
            // A symlink without this GFID is a directory's record, not the object: walk to the directory.
            statted = !FileMode.IsLnk(obj.St.Mode) || (ReadGfid(fd, out var own) == Errno.OK && own == gfid);
            if (!statted)
            {
                Libc.close(fd);
                var e = AcquireDir(gfid, out var dir);
                if (e != Errno.OK) return e;
                fd = OpenSelf(dir);
            }
        }
        if (fd < 0) return LastErr();
        obj.Fd = fd;
        var err = statted ? Errno.OK : FStat(fd, out obj.St);
        // The old copy of a file a rebalance moved, kept only by fds still open on it: by GFID, the file is
        // the new copy on another brick now.
        if (err == Errno.OK && IsRetiredOrphan(fd, obj.St)) err = Errno.ESTALE;
        // A file whose last name an unlink removed, its handle not yet dropped behind the reply: gone.
        else if (err == Errno.OK && obj.St.Nlink == 1 && FileMode.IsReg(obj.St.Mode) && DropPendingBehind(gfid)) err = Errno.ESTALE;
        if (err != Errno.OK) obj.Close();
        return err;
    }

    /// <summary>An O_PATH fd of a cached directory (and releases the reference). On failure, LastErr() is openat's.</summary>
    private unsafe int OpenSelf(DirHandle dir)
    {
        int fd;
        fixed (byte* dot = ".\0"u8) fd = FdBudget.OpenAt(dir.Fd, dot, Libc.O_PATH | Libc.O_CLOEXEC, 0);
        var err = Libc.Errno();
        ReleaseDir(dir);
        System.Runtime.InteropServices.Marshal.SetLastPInvokeError(err);
        return fd;
    }

    /// <summary>
    /// Reads the object's GFID, giving it one if it has none (data that predates the brick, a
    /// crash mid-create), and heals a missing handle or directory record. A GFID the object has is
    /// never replaced by <paramref name="wanted"/>; and <paramref name="wanted"/> — a client's
    /// request (lookup's gfid-req, a create adopting a name) — is refused when another live object
    /// holds it (EEXIST) or it is the root's (EINVAL): taking it would re-label that object, since
    /// its handle or directory record would then lead here.
    /// </summary>
    private Errno EnsureGfid(ref PosixObj obj, Gfid parent, string name, Gfid wanted)
    {
        var e = ReadGfid(obj.Fd, out obj.Gfid);
        if (e == Errno.OK) return HealHandle(ref obj, parent, name);
        if (e != Errno.ENODATA) return e;
        if (wanted.IsRoot) return Errno.EINVAL;
        lock (NameLock(parent, name))
        {
            if (ReadGfid(obj.Fd, out obj.Gfid) == Errno.OK) return HealHandle(ref obj, parent, name);
            if (wanted.IsZero) return Claim(ref obj, parent, name, Gfid.NewGfid());
            // One claimant of a chosen GFID at a time, so two objects cannot both find it free.
            lock (_claimLock)
            {
                if (GfidInUse(wanted, obj.St)) return Errno.EEXIST;
                return Claim(ref obj, parent, name, wanted);
            }
        }
    }

    /// <summary>Stamps <paramref name="g"/> on a GFID-less object and makes its handle or record; undone if that fails.</summary>
    private Errno Claim(ref PosixObj obj, Gfid parent, string name, Gfid g)
    {
        var e = WriteGfid(obj.Fd, g);
        if (e == Errno.EEXIST) return ReadGfid(obj.Fd, out obj.Gfid); // stamped meanwhile (outside the name lock: by its creator)
        if (e != Errno.OK) return e;
        obj.Gfid = g;
        e = obj.IsDir ? WriteDirRecord(g, parent, name) : LinkFileHandle(obj.Fd, g);
        if (e != Errno.OK)
        {
            // The object keeps no GFID its handle does not back: the next lookup tries again.
            RemoveGfid(obj.Fd);
            obj.Gfid = default;
            return e;
        }
        return obj.IsDir ? Errno.OK : FStat(obj.Fd, out obj.St);
    }

    private Errno HealHandle(ref PosixObj obj, Gfid parent, string name)
    {
        if (obj.IsDir) return HealDirRecord(ref obj, parent, name);
        // Found by name with one link: the handle link is missing (a copied brick, a crash).
        if (obj.St.Nlink != 1) return Errno.OK;
        var e = LinkFileHandle(obj.Fd, obj.Gfid);
        if (e == Errno.EEXIST)
        {
            // Another live object holds this GFID: this one is a copy made with its xattrs (cp -a).
            lock (NameLock(parent, name)) e = Restamp(ref obj, parent, name);
        }
        return e == Errno.OK ? FStat(obj.Fd, out obj.St) : e;
    }

    /// <summary>
    /// Makes sure a directory found at (parent, name) is recorded there. Runs under the directory
    /// rename lock and first checks the name still holds this directory, so a lookup that raced a
    /// rename can never write back the place the directory just left.
    /// </summary>
    private Errno HealDirRecord(ref PosixObj obj, Gfid parent, string name)
    {
        // A cached fd proves the record was good when the directory was last walked to or renamed.
        if (obj.Gfid.IsRoot || _dirs?.Contains(obj.Gfid) == true) return Errno.OK;
        if (RecordSays(obj.Gfid, parent, name, out _)) return Errno.OK;
        lock (_dirRenameLock)
        {
            if (!StillNamed(parent, name, obj.St)) return Errno.OK; // moved meanwhile: its mover wrote the record
            if (RecordSays(obj.Gfid, parent, name, out bool hasRecord)) return Errno.OK;
            if (hasRecord && WalkToDir(obj.Gfid, out var there) == Errno.OK)
            {
                var other = FStat(there.Fd, out var tst) == Errno.OK && (tst.Ino != obj.St.Ino || tst.Dev != obj.St.Dev);
                ReleaseDir(there);
                if (other) return Restamp(ref obj, parent, name); // the recorded directory lives on: this is a copy
            }
            return WriteDirRecord(obj.Gfid, parent, name);
        }
    }

    private bool RecordSays(Gfid g, Gfid parent, string name, out bool hasRecord)
    {
        hasRecord = ReadDirRecord(g, out var p, out var nameZ) == Errno.OK;
        return hasRecord && p == parent && NameMatches(nameZ, name);
    }

    private unsafe bool StillNamed(Gfid parent, string name, in Stat st)
    {
        Span<byte> z = stackalloc byte[NameBufLen];
        if (EncodeName(name, z) != Errno.OK || AcquireDir(parent, out var dir) != Errno.OK) return false;
        Stat now;
        int r;
        fixed (byte* p = z) r = Libc.fstatat(dir.Fd, p, &now, Libc.AT_SYMLINK_NOFOLLOW);
        ReleaseDir(dir);
        return r == 0 && now.Ino == st.Ino && now.Dev == st.Dev;
    }

    /// <summary>Gives a duplicate (an object carrying another live object's GFID) a GFID of its own.</summary>
    private Errno Restamp(ref PosixObj obj, Gfid parent, string name)
    {
        var g = Gfid.NewGfid();
        var e = WriteGfid(obj.Fd, g, replace: true);
        if (e != Errno.OK) return e;
        obj.Gfid = g;
        return obj.IsDir ? WriteDirRecord(g, parent, name) : LinkFileHandle(obj.Fd, g);
    }

    private static bool NameMatches(byte[] nameZ, string name)
    {
        Span<byte> z = stackalloc byte[NameBufLen];
        return EncodeName(name, z) == Errno.OK && z[..nameZ.Length].SequenceEqual(nameZ);
    }

    /// <summary>Opens the object behind an O_PATH fd for I/O, with the caller's credentials (the kernel checks the mode bits).</summary>
    private static unsafe int Reopen(FopContext ctx, int opathFd, int flags)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(opathFd, path);
        using (FsCreds.Enter(ctx))
            fixed (byte* p = path) return FdBudget.OpenAt(Libc.AT_FDCWD, p, flags | Libc.O_CLOEXEC, 0);
    }
}
