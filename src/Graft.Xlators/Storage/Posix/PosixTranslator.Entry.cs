using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// lookup, stat, setattr, access, readlink, statfs.
public sealed partial class PosixTranslator
{
    /// <summary>Lookup xdata key: the GFID to give the object if it has none yet (16 raw bytes).</summary>
    public const string GfidReqKey = "gfid-req";

    private static ValueTask<Result<T>> Done<T>(Result<T> r) => new(r);
    private static ValueTask<Errno> Done(Errno e) => new(e);

    public override ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        Gfid wanted = default;
        if (xdata is not null && xdata.TryGet(GfidReqKey, out var req) && req.Length == 16) wanted = Gfid.FromBytes(req);
        return Done(StatLoc(ctx, loc, wanted));
    }

    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc) => Done(StatLoc(ctx, loc, default));

    private Result<Iatt> StatLoc(FopContext ctx, in Loc loc, Gfid wanted)
    {
        var e = Resolve(ctx, loc, out var obj, wanted);
        if (e != Errno.OK) return e;
        var iatt = ToIatt(obj.St, obj.Gfid);
        obj.Close();
        return iatt;
    }

    public override unsafe ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<Iatt>(Errno.EBADF));
        Stat st;
        if (Libc.fstat(pf.Os, &st) != 0) return Done(new Result<Iatt>(LastErr()));
        return Done(new Result<Iatt>(ToIatt(st, pf.Gfid)));
    }

    public override ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        try
        {
            e = BeginChange(obj.Fd, obj.St, obj.Gfid, out var counted);
            if (e != Errno.OK) return Done(new Result<Iatt>(e));
            try { e = ApplySetattr(ctx, obj.Fd, isOpenFd: false, obj.IsDir, attr); }
            finally { EndChange(counted); }
            if (e == Errno.OK) e = FStat(obj.Fd, out obj.St);
            return Done(e == Errno.OK ? new Result<Iatt>(ToIatt(obj.St, obj.Gfid)) : new Result<Iatt>(e));
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<Iatt>(Errno.EBADF));
        // An fd open for writing is counted already (no move can hold its file); a reader's change counts now.
        bool count = !pf.IsDir && !pf.Writer;
        var e = count ? BeginWrite(pf.Gfid, pf.Os) : Errno.OK;
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        try { e = ApplySetattr(ctx, pf.Os, isOpenFd: true, pf.IsDir, attr); }
        finally { if (count) EndWrite(pf.Gfid); }
        if (e != Errno.OK) return Done(new Result<Iatt>(e));
        e = FStat(pf.Os, out var st);
        return Done(e == Errno.OK ? new Result<Iatt>(ToIatt(st, pf.Gfid)) : new Result<Iatt>(e));
    }

    /// <summary>
    /// Owner first (a chown clears set-id bits, so an explicit mode must come after), then mode,
    /// size, times — each with the caller's credentials, so the kernel applies its own rules.
    /// </summary>
    private static unsafe Errno ApplySetattr(FopContext ctx, int fd, bool isOpenFd, bool isDir, in SetAttr a)
    {
        var v = a.Valid;
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* empty = "\0"u8)
        {
            if ((v & (SetAttrValid.Uid | SetAttrValid.Gid)) != 0)
            {
                uint uid = (v & SetAttrValid.Uid) != 0 ? a.Uid : uint.MaxValue;
                uint gid = (v & SetAttrValid.Gid) != 0 ? a.Gid : uint.MaxValue;
                int r = isOpenFd ? Libc.fchown(fd, uid, gid) : Libc.fchownat(fd, empty, uid, gid, Libc.AT_EMPTY_PATH);
                if (r != 0) return LastErr();
            }
            if ((v & SetAttrValid.Mode) != 0)
            {
                uint mode = a.Mode & FileMode.PermMask;
                int r = isOpenFd ? Libc.fchmod(fd, mode) : Libc.fchmodat2(fd, empty, mode, Libc.AT_EMPTY_PATH);
                if (r != 0) return LastErr();
            }
            if ((v & SetAttrValid.Size) != 0)
            {
                if (isDir) return Errno.EISDIR;
                int r;
                if (isOpenFd) r = Libc.ftruncate(fd, a.Size);
                else
                {
                    Span<byte> path = stackalloc byte[ProcPathLen];
                    ProcPath(fd, path);
                    fixed (byte* p = path) r = Libc.truncate(p, a.Size);
                }
                if (r != 0) return LastErr();
            }
            if ((v & (SetAttrValid.Atime | SetAttrValid.Mtime | SetAttrValid.AtimeNow | SetAttrValid.MtimeNow)) != 0)
            {
                TimespecNative* ts = stackalloc TimespecNative[2];
                ts[0] = Time(v, SetAttrValid.AtimeNow, SetAttrValid.Atime, a.Atime);
                ts[1] = Time(v, SetAttrValid.MtimeNow, SetAttrValid.Mtime, a.Mtime);
                int r = isOpenFd ? Libc.futimens(fd, ts) : Libc.utimensat(fd, empty, ts, Libc.AT_EMPTY_PATH);
                if (r != 0) return LastErr();
            }
        }
        return Errno.OK;
    }

    private static TimespecNative Time(SetAttrValid v, SetAttrValid now, SetAttrValid set, Timespec t) =>
        (v & now) != 0 ? new TimespecNative { Nsec = Libc.UTIME_NOW }
        : (v & set) != 0 ? new TimespecNative { Sec = t.Sec, Nsec = t.Nsec }
        : new TimespecNative { Nsec = Libc.UTIME_OMIT };

    public override unsafe ValueTask<Errno> AccessAsync(FopContext ctx, Loc loc, int mask)
    {
        if ((mask & ~7) != 0) return Done(Errno.EINVAL);
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(e);
        try
        {
            using var creds = FsCreds.Enter(ctx);
            fixed (byte* empty = "\0"u8)
                return Done(Libc.faccessat2(obj.Fd, empty, mask, Libc.AT_EACCESS | Libc.AT_EMPTY_PATH) == 0 ? Errno.OK : LastErr());
        }
        finally { obj.Close(); }
    }

    public override unsafe ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<string>(e));
        try
        {
            // readlinkat on an empty path says ENOENT for a non-symlink; readlink(2) says EINVAL.
            if (!FileMode.IsLnk(obj.St.Mode)) return Done(new Result<string>(Errno.EINVAL));
            var buf = new byte[4096];
            nint n;
            using (FsCreds.Enter(ctx))
                fixed (byte* empty = "\0"u8) fixed (byte* p = buf) n = Libc.readlinkat(obj.Fd, empty, p, (nuint)buf.Length);
            if (n < 0) return Done(new Result<string>(LastErr()));
            return Done(new Result<string>(NameBytes.GetString(buf.AsSpan(0, (int)n))));
        }
        finally { obj.Close(); }
    }

    public override unsafe ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<StatVfs>(e));
        try
        {
            StatvfsNative s;
            if (Libc.fstatvfs(obj.Fd, &s) != 0) return Done(new Result<StatVfs>(LastErr()));
            return Done(new Result<StatVfs>(new StatVfs
            {
                Bsize = (uint)s.Bsize, Frsize = (uint)s.Frsize, Blocks = s.Blocks, Bfree = s.Bfree, Bavail = s.Bavail,
                Files = s.Files, Ffree = s.Ffree, NameMax = (uint)s.Namemax,
            }));
        }
        finally { obj.Close(); }
    }
}
