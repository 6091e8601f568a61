using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// Extended attributes, by loc or by fd, all through the object's /proc/self/fd link (which
// reaches the inode itself, symlink or not) and with the caller's credentials. The brick's own
// xattrs (trusted.graft.*) are invisible; POSIX ACL xattrs are refused rather than half-honoured.
// A caller whose identity was not authenticated (FopContext.Untrusted: a brick session that proved
// nothing) sees no trusted.* or security.* xattr at all, whatever uid it names.
public sealed partial class PosixTranslator
{
    private const string AclAccess = "system.posix_acl_access", AclDefault = "system.posix_acl_default";

    private enum XattrOp { Get, Set, Remove }

    /// <summary>What this brick answers for <paramref name="name"/> before the kernel sees it (OK: pass it on).</summary>
    private static Errno Screen(FopContext ctx, string name, XattrOp op)
    {
        // Xattr names are bytes as file names are (NameBytes): "user." followed by any bytes but NUL.
        if (string.IsNullOrEmpty(name) || name.Contains('\0') || !NameBytes.IsCanonical(name)) return Errno.EINVAL;
        if (NameBytes.GetByteCount(name) > 255) return Errno.ERANGE;
        if (name == AclAccess || name == AclDefault) return Errno.EOPNOTSUPP;
        if (name.StartsWith(InternalXattrPrefix, StringComparison.Ordinal) && !IsClusterXattr(ctx, name)) return op == XattrOp.Get ? Errno.ENODATA : Errno.EPERM;
        if (ctx.Untrusted && IsPrivileged(name)) return op == XattrOp.Get ? Errno.ENODATA : Errno.EPERM;
        // The credential switch keeps CAP_SYS_ADMIN, so refuse what the kernel would refuse a non-root caller.
        if (!ctx.IsRoot)
        {
            if (name.StartsWith("trusted.", StringComparison.Ordinal)) return op == XattrOp.Get ? Errno.ENODATA : Errno.EPERM;
            if (op != XattrOp.Get && name.StartsWith("security.", StringComparison.Ordinal)) return Errno.EPERM;
        }
        return Errno.OK;
    }

    private static bool Visible(FopContext ctx, string name) =>
        (!name.StartsWith(InternalXattrPrefix, StringComparison.Ordinal) || IsClusterXattr(ctx, name)) && name != AclAccess && name != AclDefault
        && (ctx.IsRoot || !name.StartsWith("trusted.", StringComparison.Ordinal))
        && !(ctx.Untrusted && IsPrivileged(name));

    /// <summary>The namespaces only an authenticated caller may touch: trusted.* (root's) and security.* (capabilities, LSM labels).</summary>
    private static bool IsPrivileged(string name) =>
        name.StartsWith("trusted.", StringComparison.Ordinal) || name.StartsWith("security.", StringComparison.Ordinal);

    /// <summary>
    /// The cluster translators' state on this brick (distribute's layouts and link pointers,
    /// <c>trusted.graft.dht.*</c>; replicate's pending counters, <c>trusted.graft.pending.*</c>): a root caller — a mount's trusted identity — may read, list,
    /// set and remove them; everyone else sees nothing. Above the bricks, distribute keeps
    /// applications away from them (docs/distribute.md).
    /// </summary>
    private static bool IsClusterXattr(FopContext ctx, string name) =>
        ctx.IsRoot && (name.StartsWith(ClusterXattrPrefix, StringComparison.Ordinal) || name.StartsWith(PendingXattrPrefix, StringComparison.Ordinal));

    /// <summary>The first read of a value or a name list goes into this much stack; only a bigger one costs a size probe and a second call.</summary>
    private const int SmallXattr = 256, SmallXattrList = 1024;

    private static byte[] Z(string s)
    {
        var z = new byte[NameBytes.GetByteCount(s) + 1];
        NameBytes.GetBytes(s, z);
        return z;
    }

    private static unsafe Errno SetX(FopContext ctx, int fd, string name, ReadOnlySpan<byte> value, int flags)
    {
        var e = Screen(ctx, name, XattrOp.Set);
        if (e != Errno.OK) return e;
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        var nz = Z(name);
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* p = path) fixed (byte* n = nz) fixed (byte* v = value)
            return Libc.setxattr(p, n, v, (nuint)value.Length, flags) == 0 ? Errno.OK : LastErr();
    }

    private static unsafe Result<byte[]> GetX(FopContext ctx, int fd, string name)
    {
        var e = Screen(ctx, name, XattrOp.Get);
        if (e != Errno.OK) return e;
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        var nz = Z(name);
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* p = path) fixed (byte* n = nz)
        {
            // Nearly every value this brick reads is small (GFIDs, counters, layouts): one call, not a size probe first.
            Span<byte> small = stackalloc byte[SmallXattr];
            nint got;
            fixed (byte* s = small) got = Libc.getxattr(p, n, s, (nuint)small.Length);
            if (got >= 0) return small[..(int)got].ToArray();
            if (LastErr() != Errno.ERANGE) return LastErr();
            for (int attempt = 0; attempt < 4; attempt++)
            {
                nint size = Libc.getxattr(p, n, null, 0);
                if (size < 0) return LastErr();
                var buf = new byte[size];
                fixed (byte* b = buf) size = Libc.getxattr(p, n, b, (nuint)buf.Length);
                if (size >= 0) return size == buf.Length ? buf : buf[..(int)size];
                if (LastErr() != Errno.ERANGE) return LastErr();
            }
            return Errno.ERANGE;
        }
    }

    private static unsafe Result<string[]> ListX(FopContext ctx, int fd)
    {
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        Span<byte> small = stackalloc byte[SmallXattrList];
        byte[]? buf = null;
        nint size;
        using (FsCreds.Enter(ctx))
        {
            fixed (byte* p = path)
            {
                fixed (byte* s = small) size = Libc.listxattr(p, s, (nuint)small.Length);
                if (size < 0 && LastErr() != Errno.ERANGE) return LastErr();
                while (size < 0)
                {
                    size = Libc.listxattr(p, null, 0);
                    if (size < 0) return LastErr();
                    buf = new byte[Math.Max(size, 1)];
                    fixed (byte* b = buf) size = Libc.listxattr(p, b, (nuint)buf.Length);
                    if (size < 0 && LastErr() != Errno.ERANGE) return LastErr();
                }
            }
        }
        var names = new List<string>();
        var list = buf is null ? small[..(int)size] : buf.AsSpan(0, (int)size);
        // NUL is a byte below 0x80, so decoding the whole list and splitting at NUL decodes each name on its own.
        foreach (var part in NameBytes.GetString(list).Split('\0', StringSplitOptions.RemoveEmptyEntries))
            if (Visible(ctx, part)) names.Add(part);
        return names.ToArray();
    }

    private static unsafe Errno RemoveX(FopContext ctx, int fd, string name)
    {
        var e = Screen(ctx, name, XattrOp.Remove);
        if (e != Errno.OK) return e;
        Span<byte> path = stackalloc byte[ProcPathLen];
        ProcPath(fd, path);
        var nz = Z(name);
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* p = path) fixed (byte* n = nz)
            return Libc.removexattr(p, n) == 0 ? Errno.OK : LastErr();
    }

    public override ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
    {
        if (name == UnlinkMigratedXattr) return Done(UnlinkMigrated(ctx, loc, value.Span));
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(e);
        try
        {
            e = BeginChange(obj.Fd, obj.St, obj.Gfid, out var counted);
            if (e != Errno.OK) return Done(e);
            try { return Done(SetX(ctx, obj.Fd, name, value.Span, flags)); }
            finally { EndChange(counted); }
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<byte[]>(e));
        try
        {
            if (name == MigratingXattr && ctx.IsRoot) return Done(IsMarked(obj.Gfid) ? new Result<byte[]>("1"u8.ToArray()) : new Result<byte[]>(Errno.ENODATA));
            return Done(GetX(ctx, obj.Fd, name));
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Result<string[]>> ListxattrAsync(FopContext ctx, Loc loc)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<string[]>(e));
        try { return Done(ListX(ctx, obj.Fd)); }
        finally { obj.Close(); }
    }

    public override ValueTask<Errno> RemovexattrAsync(FopContext ctx, Loc loc, string name)
    {
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(e);
        try
        {
            e = BeginChange(obj.Fd, obj.St, obj.Gfid, out var counted);
            if (e != Errno.OK) return Done(e);
            try { return Done(RemoveX(ctx, obj.Fd, name)); }
            finally { EndChange(counted); }
        }
        finally { obj.Close(); }
    }

    public override ValueTask<Errno> FsetxattrAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> value, int flags)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(Errno.EBADF);
        if (SetMoveXattr(ctx, pf, name, value.Span) is { } moved) return Done(moved);
        return Done(ChangeThrough(pf, () => SetX(ctx, pf.Os, name, value.Span, flags)));
    }

    public override ValueTask<Result<byte[]>> FgetxattrAsync(FopContext ctx, Fd fd, string name)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<byte[]>(Errno.EBADF));
        if (name == MigratingXattr && ctx.IsRoot) return Done(MarkWaited(pf));
        return Done(GetX(ctx, pf.Os, name));
    }

    public override ValueTask<Result<string[]>> FlistxattrAsync(FopContext ctx, Fd fd) =>
        Done(fd.GetCtx(this) is PosixFd pf ? ListX(ctx, pf.Os) : new Result<string[]>(Errno.EBADF));

    public override ValueTask<Errno> FremovexattrAsync(FopContext ctx, Fd fd, string name)
    {
        if (fd.GetCtx(this) is not PosixFd pf) return Done(Errno.EBADF);
        if (name == MigratingXattr && ctx.IsRoot) return Done(Unmark(pf) ? Errno.OK : Errno.ENODATA);
        return Done(ChangeThrough(pf, () => RemoveX(ctx, pf.Os, name)));
    }

    /// <summary>A change through an fd: a reader's counts as a writer while it runs (an fd open for writing is counted already).</summary>
    private Errno ChangeThrough(PosixFd pf, Func<Errno> change)
    {
        bool count = !pf.IsDir && !pf.Writer;
        if (count && BeginWrite(pf.Gfid, pf.Os) is var e && e != Errno.OK) return e;
        try { return change(); }
        finally { if (count) EndWrite(pf.Gfid); }
    }

    public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
    {
        if (deltas.Length == 0 || deltas.Length % 8 != 0) return Done(new Result<byte[]>(Errno.EINVAL));
        var e = Resolve(ctx, loc, out var obj);
        if (e != Errno.OK) return Done(new Result<byte[]>(e));
        try
        {
            lock (_shared!.XattrLock(obj.Gfid)) return Done(AddX(ctx, obj.Fd, name, deltas.Span));
        }
        finally { obj.Close(); }
    }

    /// <summary>
    /// xattrop through an open fd: the object is not opened again by its handle (openat with its path walk, fstat
    /// and close fewer than by loc), and its xattrs are read and written with fgetxattr/fsetxattr on the fd itself (an
    /// fd of a PosixFd is never O_PATH), not through /proc/self/fd. The same xattr lock (by GFID) as by loc, so adds
    /// by both never lose one.
    /// </summary>
    public override ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas)
    {
        if (deltas.Length == 0 || deltas.Length % 8 != 0) return Done(new Result<byte[]>(Errno.EINVAL));
        if (fd.GetCtx(this) is not PosixFd pf) return Done(new Result<byte[]>(Errno.EBADF));
        var e = Screen(ctx, name, XattrOp.Set);
        if (e != Errno.OK) return Done(new Result<byte[]>(e));
        lock (_shared!.XattrLock(pf.Gfid)) return Done(AddThroughFd(ctx, pf.Os, name, deltas.Span));
    }

    /// <summary><see cref="AddX"/> on a real (not O_PATH) fd: fgetxattr, the sums, fsetxattr; the caller holds the object's xattr lock.</summary>
    private static unsafe Result<byte[]> AddThroughFd(FopContext ctx, int fd, string name, ReadOnlySpan<byte> deltas)
    {
        var nz = Z(name);
        var value = new byte[deltas.Length];
        using var creds = FsCreds.Enter(ctx);
        fixed (byte* n = nz) fixed (byte* v = value)
        {
            // One byte more than the counters: a longer value reads as such (ERANGE only beyond it), and is refused.
            Span<byte> old = stackalloc byte[deltas.Length + 1];
            nint got;
            fixed (byte* o = old) got = Libc.fgetxattr(fd, n, o, (nuint)old.Length);
            if (got >= 0)
            {
                if (got != deltas.Length) return Errno.EINVAL;
                old[..deltas.Length].CopyTo(value);
            }
            else if (LastErr() == Errno.ERANGE) return Errno.EINVAL;
            else if (LastErr() != Errno.ENODATA) return LastErr();
            AddCounters(value, deltas);
            return Libc.fsetxattr(fd, n, v, (nuint)value.Length, 0) == 0 ? value : LastErr();
        }
    }

    /// <summary>Reads the counters (zeros when absent), adds the deltas, writes them back: the caller holds the object's xattr lock.</summary>
    private static Result<byte[]> AddX(FopContext ctx, int fd, string name, ReadOnlySpan<byte> deltas)
    {
        var old = GetX(ctx, fd, name);
        byte[] value;
        if (old.Ok)
        {
            if (old.Value.Length != deltas.Length) return Errno.EINVAL;
            value = old.Value;
        }
        else if (old.Error == Errno.ENODATA) value = new byte[deltas.Length];
        else return old.Error;
        AddCounters(value, deltas);
        var e = SetX(ctx, fd, name, value, 0);
        return e == Errno.OK ? value : e;
    }

    /// <summary>Adds each big-endian 64-bit delta to the counter at the same place in <paramref name="value"/> (wrapping, as xattrop's adds do).</summary>
    private static void AddCounters(Span<byte> value, ReadOnlySpan<byte> deltas)
    {
        for (int i = 0; i < value.Length; i += 8)
        {
            var sum = unchecked(BinaryPrimitives.ReadInt64BigEndian(value[i..]) + BinaryPrimitives.ReadInt64BigEndian(deltas[i..]));
            BinaryPrimitives.WriteInt64BigEndian(value[i..], sum);
        }
    }
}
