using System.Text;
using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// mknod, mkdir, symlink, link, unlink, rmdir, rename. The caller's credentials make the entry
// (so the kernel checks the parent and the new object is the caller's); root then stamps the
// GFID and the handle. A retried call that finds its own GFID already there succeeds.
public sealed partial class PosixTranslator
{
    private enum NewKind { Node, Dir, Symlink }

    private const int SymlinkMax = 4095;

    public override ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
    {
        if ((mode & FileMode.S_IFMT) == 0) mode |= FileMode.S_IFREG;
        if (FileMode.IsDir(mode) || FileMode.IsLnk(mode)) return Done(new Result<Iatt>(Errno.EINVAL));
        return Done(MakeEntry(ctx, loc, NewKind.Node, mode, rdev, umask, null, gfid));
    }

    public override ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid) =>
        Done(MakeEntry(ctx, loc, NewKind.Dir, FileMode.S_IFDIR | (mode & FileMode.PermMask), 0, umask, null, gfid));

    public override ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid) =>
        Done(MakeEntry(ctx, loc, NewKind.Symlink, FileMode.S_IFLNK | 0x1FF /* 0777 */, 0, 0, target, gfid));

    private unsafe Result<Iatt> MakeEntry(FopContext ctx, in Loc loc, NewKind kind, uint mode, ulong rdev, uint umask, string? target, Gfid gfid)
    {
        var parent = ParentOf(loc);
        var name = loc.Name;
        if (name is null) return Errno.EINVAL;
        if (gfid.IsZero) gfid = Gfid.NewGfid();
        if (gfid.IsRoot) return Errno.EINVAL;
        if (IsPrivate(parent, name)) return Errno.EPERM;
        Span<byte> z = stackalloc byte[NameBufLen];
        var e = EncodeName(name, z);
        if (e != Errno.OK) return e;
        byte[]? tz = null;
        if (kind == NewKind.Symlink)
        {
            // A target is bytes too (NameBytes), any but NUL; one that stands for no bytes is refused.
            if (string.IsNullOrEmpty(target) || target.Contains('\0') || !NameBytes.IsCanonical(target)) return Errno.EINVAL;
            int tn = NameBytes.GetByteCount(target);
            if (tn > SymlinkMax) return Errno.ENAMETOOLONG;
            tz = new byte[tn + 1];
            NameBytes.GetBytes(target, tz);
        }
        uint perm = mode & FileMode.PermMask & ~umask;
        e = AcquireDir(parent, out var dir);
        if (e != Errno.OK) return e;
        try
        {
            lock (NameLock(parent, name))
            {
                int r;
                using (FsCreds.Enter(ctx))
                {
                    fixed (byte* p = z) fixed (byte* t = tz)
                        r = kind switch
                        {
                            NewKind.Dir => Libc.mkdirat(dir.Fd, p, perm),
                            NewKind.Node => Libc.mknodat(dir.Fd, p, (mode & FileMode.S_IFMT) | perm, rdev),
                            _ => Libc.symlinkat(t, dir.Fd, p),
                        };
                }
                if (r != 0 && LastErr() != Errno.EEXIST) return LastErr();
                int objFd;
                var made = r != 0 ? Existing(ctx, dir, z, parent, name, gfid, mode & FileMode.S_IFMT, out objFd)
                                  : Stamp(ctx, dir, z, parent, name, gfid, kind == NewKind.Symlink ? null : perm, out objFd);
                // Nothing keeps the object's O_PATH fd: left open, every mkdir, mknod and symlink cost the
                // brick a descriptor for good (and one of a deleted object once it was removed).
                if (objFd >= 0) Libc.close(objFd);
                return made;
            }
        }
        finally { ReleaseDir(dir); }
    }

    /// <summary>
    /// Gives a just-made entry its GFID and handle (as root), undoing the entry if that fails;
    /// then restores mode bits the process umask took away. <paramref name="createdFd"/> is the
    /// fd create got: the very inode it made is stamped through it (fsetxattr, linkat AT_EMPTY_PATH, fchmodat2
    /// AT_EMPTY_PATH take any fd), and it stays the caller's to close, success or not (no O_PATH reopen through
    /// /proc and its close: two calls fewer per create). Otherwise the name is opened again (O_PATH), under the
    /// name lock, and that fd comes back in <paramref name="objFd"/> on success; the caller closes it.
    /// </summary>
    private unsafe Result<Iatt> Stamp(FopContext ctx, DirHandle dir, ReadOnlySpan<byte> z, Gfid parent, string name, Gfid gfid,
        uint? perm, out int objFd, int createdFd = -1)
    {
        objFd = -1;
        bool own = createdFd < 0;
        int fd;
        if (!own) fd = createdFd;
        else fixed (byte* p = z) fd = FdBudget.OpenAt(dir.Fd, p, OPathNoFollow, 0);
        if (fd < 0) return LastErr();
        var e = FStat(fd, out var st);
        var made = st;
        bool isDir = FileMode.IsDir(st.Mode);
        bool handled = false;
        // EEXIST here: the name no longer holds what this call made (a GFID is already on it).
        if (e == Errno.OK) e = own ? WriteGfid(fd, gfid) : WriteGfidOpen(fd, gfid);
        // EEXIST from the handle store: another live object already has this GFID.
        if (e == Errno.OK && isDir && GfidInUse(gfid, st)) e = Errno.EEXIST;
        if (e == Errno.OK) handled = (e = isDir ? WriteDirRecord(gfid, parent, name) : LinkFileHandle(fd, gfid)) == Errno.OK;
        if (e == Errno.OK && perm is { } want) e = FixCreatedMode(ctx, fd, want, isDir);
        if (e == Errno.OK) e = FStat(fd, out st);
        if (e != Errno.OK)
        {
            if (own) Libc.close(fd);
            // Undo only the object this call made, if the name still holds it.
            Stat now;
            fixed (byte* p = z)
                if (made.Ino != 0 && Libc.fstatat(dir.Fd, p, &now, Libc.AT_SYMLINK_NOFOLLOW) == 0 && now.Ino == made.Ino && now.Dev == made.Dev)
                    Libc.unlinkat(dir.Fd, p, isDir ? Libc.AT_REMOVEDIR : 0);
            if (handled) RemoveHandle(gfid); // only what this call made: never another object's handle
            return e;
        }
        if (own) objFd = fd;
        return ToIatt(st, gfid);
    }

    /// <summary>Whether a GFID already names a live object other than <paramref name="st"/> (a file's handle, or a directory record that still leads somewhere).</summary>
    private bool GfidInUse(Gfid g, in Stat st)
    {
        var e = ReadDirRecord(g, out _, out _);
        if (e == Errno.ENOENT) return false;
        if (e != Errno.OK) return true;
        if (WalkToDir(g, out var there) != Errno.OK) return false; // a stale record
        bool other = FStat(there.Fd, out var tst) != Errno.OK || tst.Ino != st.Ino || tst.Dev != st.Dev;
        ReleaseDir(there);
        return other;
    }

    /// <summary>The name exists already: success if it is the object this call (or its earlier try) made.</summary>
    private unsafe Result<Iatt> Existing(FopContext ctx, DirHandle dir, ReadOnlySpan<byte> z, Gfid parent, string name, Gfid gfid, uint type, out int objFd)
    {
        objFd = -1;
        int fd;
        using (FsCreds.Enter(ctx))
            fixed (byte* p = z) fd = FdBudget.OpenAt(dir.Fd, p, OPathNoFollow, 0);
        if (fd < 0) return LastErr() == Errno.ENOENT ? Errno.EEXIST : LastErr();
        var obj = new PosixObj { Fd = fd };
        var e = FStat(fd, out obj.St);
        if (e == Errno.OK && (obj.St.Mode & FileMode.S_IFMT) != type) e = Errno.EEXIST;
        if (e == Errno.OK)
        {
            // Our own GFID: a retry. No GFID: a create that crashed before stamping it; adopt ours.
            var r = ReadGfid(fd, out obj.Gfid);
            if (r == Errno.OK) e = obj.Gfid == gfid ? HealHandle(ref obj, parent, name) : Errno.EEXIST;
            else e = r == Errno.ENODATA ? EnsureGfid(ref obj, parent, name, gfid) : r;
            if (e == Errno.OK && obj.Gfid != gfid) e = Errno.EEXIST;
        }
        if (e != Errno.OK) { obj.Close(); return e; }
        objFd = fd;
        return ToIatt(obj.St, obj.Gfid);
    }

    /// <summary>
    /// The process umask applies on top of the caller's; if it took bits the caller asked for,
    /// set them back (keeping a set-group-ID bit a directory inherited from its parent).
    /// </summary>
    private unsafe Errno FixCreatedMode(FopContext ctx, int fd, uint want, bool isDir)
    {
        if ((want & _processUmask) == 0) return Errno.OK;
        var e = FStat(fd, out var st);
        if (e != Errno.OK) return e;
        uint mode = want | (isDir ? st.Mode & FileMode.S_ISGID : 0);
        if ((st.Mode & FileMode.PermMask) == mode) return Errno.OK;
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* empty = "\0"u8)
            return Libc.fchmodat2(fd, empty, mode, Libc.AT_EMPTY_PATH) == 0 ? Errno.OK : LastErr();
    }

    public override unsafe ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        var parent = ParentOf(newLoc);
        var name = newLoc.Name;
        if (name is null) return Done(new Result<Iatt>(Errno.EINVAL));
        if (IsPrivate(parent, name)) return Done(new Result<Iatt>(Errno.EPERM));
        Span<byte> z = stackalloc byte[NameBufLen];
        var e = EncodeName(name, z);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        e = Resolve(ctx, oldLoc, out var obj);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        try
        {
            if (obj.IsDir) return Done(new Result<Iatt>(Errno.EPERM));
            // A second name would keep the old copy of a file being moved alive under it.
            e = BeginChange(obj.Fd, obj.St, obj.Gfid, out var counted);
            if (e != Errno.OK) return Done(new Result<Iatt>(e));
            e = AcquireDir(parent, out var dir);
            if (e != Errno.OK) { EndChange(counted); return Done(new Result<Iatt>(e)); }
            try
            {
                Span<byte> src = stackalloc byte[ProcPathLen];
                ProcPath(obj.Fd, src);
                int r;
                // Linking through the O_PATH fd's /proc link needs no privilege (AT_EMPTY_PATH would).
                using (FsCreds.Enter(ctx))
                    fixed (byte* ps = src) fixed (byte* p = z) r = Libc.linkat(Libc.AT_FDCWD, ps, dir.Fd, p, Libc.AT_SYMLINK_FOLLOW);
                if (r != 0)
                {
                    e = LastErr();
                    if (e != Errno.EEXIST) return Done(new Result<Iatt>(e));
                    // A retried link: the name is already this object.
                    Stat there;
                    fixed (byte* p = z)
                        if (Libc.fstatat(dir.Fd, p, &there, Libc.AT_SYMLINK_NOFOLLOW) != 0 || there.Ino != obj.St.Ino || there.Dev != obj.St.Dev)
                            return Done(new Result<Iatt>(Errno.EEXIST));
                }
            }
            finally
            {
                ReleaseDir(dir);
                EndChange(counted);
            }
            e = FStat(obj.Fd, out obj.St);
            return Done(e == Errno.OK ? new Result<Iatt>(ToIatt(obj.St, obj.Gfid)) : new Result<Iatt>(e));
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc) => Done(RemoveEntry(ctx, loc, dir: false));

    public override ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc) => Done(RemoveEntry(ctx, loc, dir: true));

    /// <param name="retiredOnly">Only a retired file (one a rebalance moved away) is removed: the rebalance's unlink-migrated.</param>
    private unsafe Errno RemoveEntry(FopContext ctx, in Loc loc, bool dir, bool retiredOnly = false)
    {
        var parent = ParentOf(loc);
        var name = loc.Name;
        if (name is null) return Errno.EINVAL;
        if (IsPrivate(parent, name)) return Errno.EPERM;
        Span<byte> z = stackalloc byte[NameBufLen];
        var e = EncodeName(name, z);
        if (e != Errno.OK) return e;
        e = AcquireDir(parent, out var pdir);
        if (e != Errno.OK) return e;
        try
        {
            int fd, r;
            using (FsCreds.Enter(ctx))
                fixed (byte* p = z) fd = FdBudget.OpenAt(pdir.Fd, p, OPathNoFollow, 0);
            if (fd < 0) return LastErr();
            Gfid counted = default;
            bool unlinked = false, handed = false;
            try
            {
                if (!dir)
                {
                    // A file being moved keeps its name until the move is done (or undone); a retired one
                    // loses it only to the rebalance that moved it.
                    e = FStat(fd, out var st);
                    if (e != Errno.OK) return e;
                    if (retiredOnly) { if (!FileMode.IsReg(st.Mode) || !IsRetired(fd)) return Errno.EINVAL; }
                    else if ((e = BeginChange(fd, st, default, out counted)) != Errno.OK) return e;
                }
                else if (retiredOnly) return Errno.EINVAL;
                using (FsCreds.Enter(ctx))
                    fixed (byte* p = z) r = Libc.unlinkat(pdir.Fd, p, dir ? Libc.AT_REMOVEDIR : 0);
                if (r != 0) return LastErr();
                unlinked = !dir;
                ctx.PostParent = DirAttrs(pdir.Fd, parent);
                // A file counted as changing was counted by its GFID, read just before: not read again.
                var g = counted;
                if (g.IsZero && ReadGfid(fd, out g) != Errno.OK) return Errno.OK;
                // A directory that was removed has no links left; anything else means another
                // directory was renamed onto the name in between, and its record must stay.
                if (dir) { if (FStat(fd, out var gone) == Errno.OK && gone.Nlink == 0) ForgetDir(g); }
                else if (!(handed = HandDropBehind(g, fd))) MaybeDropFileHandle(g);
                return Errno.OK;
            }
            finally
            {
                EndChange(counted);
                // A file's last reference may be this fd once its name and handle are gone: freeing the
                // inode then is the filesystem's work, not the caller's wait (CloseBehind).
                // Handed: the closing threads have it already (HandDropBehind).
                if (!handed)
                {
                    if (unlinked) CloseBehind.Close(fd);
                    else Libc.close(fd);
                }
            }
        }
        finally { ReleaseDir(pdir); }
    }

    /// <summary>Whether name <paramref name="z"/> in <paramref name="dir"/> is the object <paramref name="st"/> describes.</summary>
    private static unsafe bool Holds(DirHandle dir, ReadOnlySpan<byte> z, in Stat st)
    {
        Stat now;
        fixed (byte* p = z)
            return Libc.fstatat(dir.Fd, p, &now, Libc.AT_SYMLINK_NOFOLLOW) == 0 && now.Ino == st.Ino && now.Dev == st.Dev;
    }

    private void ForgetDir(Gfid g)
    {
        RemoveHandle(g);
        _dirs?.Evict(g);
    }

    public override unsafe ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        Gfid op = ParentOf(oldLoc), np = ParentOf(newLoc);
        string? on = oldLoc.Name, nn = newLoc.Name;
        if (on is null || nn is null) return Done(new Result<Iatt>(Errno.EINVAL));
        if (IsPrivate(op, on) || IsPrivate(np, nn)) return Done(new Result<Iatt>(Errno.EPERM));
        Span<byte> oz = stackalloc byte[NameBufLen];
        Span<byte> nz = stackalloc byte[NameBufLen];
        var e = EncodeName(on, oz);
        if (e == Errno.OK) e = EncodeName(nn, nz);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        e = AcquireDir(op, out var odir);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        DirHandle? ndir = null;
        int src = -1, dst = -1;
        Gfid srcCounted = default, dstCounted = default;
        try
        {
            e = AcquireDir(np, out ndir);
            if (e != Errno.OK) { ndir = null; return Done(new Result<Iatt>(e)); }
            using (FsCreds.Enter(ctx))
            {
                fixed (byte* po = oz) fixed (byte* pn = nz)
                {
                    src = FdBudget.OpenAt(odir.Fd, po, OPathNoFollow, 0);
                    if (src < 0) return Done(new Result<Iatt>(LastErr()));
                    dst = FdBudget.OpenAt(ndir.Fd, pn, OPathNoFollow, 0);
                }
            }
            FStat(src, out var sst);
            ReadGfid(src, out var sg);
            Stat dstSt = default;
            bool dstIsOther = dst >= 0 && FStat(dst, out dstSt) == Errno.OK && (dstSt.Ino != sst.Ino || dstSt.Dev != sst.Dev);
            // Neither a file being moved nor one it would replace changes names until the move is over.
            e = BeginChange(src, sst, sg, out srcCounted);
            if (e == Errno.OK && dstIsOther) e = BeginChange(dst, dstSt, default, out dstCounted);
            if (e != Errno.OK) return Done(new Result<Iatt>(e));
            bool movesDirs = FileMode.IsDir(sst.Mode) || (dstIsOther && FileMode.IsDir(dstSt.Mode));
            // Directory renames and their record updates happen in one order, so concurrent renames of
            // one directory cannot leave its record naming a place it has already left.
            if (movesDirs) Monitor.Enter(_dirRenameLock);
            try
            {
                int r;
                using (FsCreds.Enter(ctx))
                    fixed (byte* po = oz) fixed (byte* pn = nz) r = Libc.renameat2(odir.Fd, po, ndir.Fd, pn, (uint)flags);
                if (r != 0) return Done(new Result<Iatt>(LastErr()));

                // Bring the handle store up to date (root's work), for what the names now hold.
                if (FileMode.IsDir(sst.Mode) && !sg.IsZero && Holds(ndir, nz, sst)) WriteDirRecord(sg, np, nn);
                if (dstIsOther && ReadGfid(dst, out var dg) == Errno.OK)
                {
                    if ((flags & RenameFlags.Exchange) != 0) { if (FileMode.IsDir(dstSt.Mode) && Holds(odir, oz, dstSt)) WriteDirRecord(dg, op, on); }
                    else if (FileMode.IsDir(dstSt.Mode)) { if (FStat(dst, out var gone) == Errno.OK && gone.Nlink == 0) ForgetDir(dg); }
                    else MaybeDropFileHandle(dg);
                }
            }
            finally { if (movesDirs) Monitor.Exit(_dirRenameLock); }
            e = FStat(src, out sst);
            return Done(e == Errno.OK ? new Result<Iatt>(ToIatt(sst, sg)) : new Result<Iatt>(e));
        }
        finally
        {
            EndChange(srcCounted);
            EndChange(dstCounted);
            if (src >= 0) Libc.close(src);
            if (dst >= 0) Libc.close(dst);
            if (ndir is not null) ReleaseDir(ndir);
            ReleaseDir(odir);
        }
    }
}
