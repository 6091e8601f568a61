using System.Buffers;
using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// opendir, readdir, readdirp, fsyncdir. Each directory Fd owns an OS directory fd opened with
// the caller's credentials; offsets are the filesystem's own d_off cookies, so a reader resumes
// with lseek exactly where getdents64 left off, across calls and concurrent changes.
public sealed partial class PosixTranslator
{
    private const int DirentBufSize = 32 * 1024;

    public override ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(e);
        try
        {
            if (loc.Name is not null && TargetGfid(loc) is { IsZero: false } sent && obj.Gfid != sent) return Done(Errno.ESTALE);
            if (!obj.IsDir) return Done(Errno.ENOTDIR);
            int os = Reopen(ctx, obj.Fd, Libc.O_RDONLY | Libc.O_DIRECTORY);
            if (os < 0) return Done(LastErr());
            Bind(fd, new PosixFd(os, obj.Gfid, isDir: true));
            return Done(Errno.OK);
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        Done(ReadDir(ctx, fd, offset, maxEntries, plus: false));

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries) =>
        Done(ReadDir(ctx, fd, offset, maxEntries, plus: true));

    public override ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(Errno.EBADF);
        return Done((dataOnly ? Libc.fdatasync(pf.Os) : Libc.fsync(pf.Os)) == 0 ? Errno.OK : LastErr());
    }

    private unsafe Result<IReadOnlyList<DirEntry>> ReadDir(FopContext ctx, Fd fd, long offset, int maxEntries, bool plus)
    {
        if (fd.GetCtx(this) is not PosixFd pf || !pf.IsDir) return Errno.EBADF;
        if (maxEntries <= 0 || offset < 0) return Errno.EINVAL;
        // Attributes of the entries are the caller's to see only with search permission on the directory.
        bool mayStat = plus;
        if (plus)
            using (FsCreds.Enter(ctx))
                fixed (byte* empty = "\0"u8) mayStat = Libc.faccessat2(pf.Os, empty, 1, Libc.AT_EACCESS | Libc.AT_EMPTY_PATH) == 0;

        var list = new List<DirEntry>(Math.Min(maxEntries, 256));
        var buf = ArrayPool<byte>.Shared.Rent(DirentBufSize);
        try
        {
            lock (pf)
            {
                long pos = offset;
                while (list.Count < maxEntries)
                {
                    if (Libc.lseek(pf.Os, pos, 0) < 0) return LastErr();
                    int n;
                    fixed (byte* p = buf) n = Libc.getdents64(pf.Os, p, DirentBufSize);
                    if (n < 0) return LastErr();
                    if (n == 0) break;
                    for (int at = 0; at < n && list.Count < maxEntries;)
                    {
                        var d = ParseDirent(buf.AsSpan(at, n - at), out int reclen);
                        at += reclen;
                        pos = d.Off;
                        if (pf.Gfid.IsRoot && d.Name.SequenceEqual(".graft"u8)) continue;
                        list.Add(MakeEntry(pf, d, plus && mayStat));
                    }
                }
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        return list;
    }

    private unsafe DirEntry MakeEntry(PosixFd dir, in RawDirent d, bool plus)
    {
        var name = NameBytes.GetString(d.Name);
        uint type = (uint)d.Type << 12; // DT_* are S_IFMT >> 12
        Gfid g = default;
        Stat st = default;
        bool haveStat = false;
        int fd;
        Span<byte> z = stackalloc byte[NameBufLen];
        d.Name.CopyTo(z);
        z[d.Name.Length] = 0;
        bool dot = name == ".", dotdot = name == "..";
        // ".." of the brick root is the root itself: nothing outside the brick is ever looked at.
        if (dot || (dotdot && dir.Gfid.IsRoot))
            fixed (byte* p = ".\0"u8) fd = FdBudget.OpenAt(dir.Os, p, Libc.O_PATH | Libc.O_CLOEXEC, 0);
        else
            fixed (byte* p = z) fd = FdBudget.OpenAt(dir.Os, p, OPathNoFollow, 0);
        if (fd >= 0)
        {
            try
            {
                haveStat = FStat(fd, out st) == Errno.OK;
                if (ReadGfid(fd, out g) != Errno.OK && plus && haveStat && !dot && !dotdot)
                {
                    // readdirp, like lookup, gives a GFID to an object that has none.
                    var obj = new PosixObj { Fd = fd, St = st };
                    if (EnsureGfid(ref obj, dir.Gfid, name, default) == Errno.OK) { g = obj.Gfid; st = obj.St; }
                }
            }
            finally { Libc.close(fd); }
        }
        return new DirEntry
        {
            Name = name,
            Gfid = g,
            Ino = g.IsZero ? d.Ino : Iatt.InoOf(g),
            Type = haveStat ? st.Mode & FileMode.S_IFMT : type,
            NextOffset = d.Off,
            Iatt = plus && haveStat && !g.IsZero ? ToIatt(st, g) : null,
        };
    }
}
