using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// Request and reply bodies of every fop. Request body: caller | [xdata] | the op's arguments.
/// Reply body: i32 errno | [xdata] | the op's values when errno is OK. Xdata is present when
/// the header's <see cref="FrameFlags.Xdata"/> bit is set. Bulk data (writev, readv) comes last.
/// </summary>
public static class FopCodec
{
    public static FrameFlags WriteRequest(BodyWriter w, in FopRequest q)
    {
        WireStructs.Write(w, q.Caller);
        if (q.Xdata is { } x) WireStructs.Write(w, x);
        switch (q.Op)
        {
            case FopOp.Lookup: case FopOp.Stat: case FopOp.Readlink: case FopOp.Unlink: case FopOp.Rmdir:
            case FopOp.Opendir: case FopOp.Statfs: case FopOp.Listxattr:
                WireStructs.Write(w, q.Loc); break;
            case FopOp.Fstat: case FopOp.Flush: case FopOp.Flistxattr: case FopOp.Release: case FopOp.Releasedir:
                w.U64(q.Fd); break;
            case FopOp.Fsync: case FopOp.Fsyncdir:
                w.U64(q.Fd); w.Bool(q.DataOnly); break;
            case FopOp.Setattr: WireStructs.Write(w, q.Loc); WireStructs.Write(w, q.Attr); break;
            case FopOp.Fsetattr: w.U64(q.Fd); WireStructs.Write(w, q.Attr); break;
            case FopOp.Access: WireStructs.Write(w, q.Loc); w.I32(q.Flags); break;
            case FopOp.Mknod: WireStructs.Write(w, q.Loc); w.U32(q.Mode); w.U64(q.Rdev); w.U32(q.Umask); w.Gfid(q.NewGfid); break;
            case FopOp.Mkdir: WireStructs.Write(w, q.Loc); w.U32(q.Mode); w.U32(q.Umask); w.Gfid(q.NewGfid); break;
            case FopOp.Symlink: w.String(q.Name); WireStructs.Write(w, q.Loc); w.U32(q.Umask); w.Gfid(q.NewGfid); break;
            case FopOp.Rename: WireStructs.Write(w, q.Loc); WireStructs.Write(w, q.Loc2); w.I32(q.Flags); break;
            case FopOp.Link: WireStructs.Write(w, q.Loc); WireStructs.Write(w, q.Loc2); break;
            case FopOp.Create: WireStructs.Write(w, q.Loc); w.I32(q.Flags); w.U32(q.Mode); w.U32(q.Umask); w.Gfid(q.NewGfid); break;
            case FopOp.Open: WireStructs.Write(w, q.Loc); w.I32(q.Flags); break;
            case FopOp.Readv: w.U64(q.Fd); w.I64(q.Offset); w.U32(q.Size); break;
            case FopOp.Writev: w.U64(q.Fd); w.I64(q.Offset); w.WriteBulk(q.Data); break;
            case FopOp.CopyFileRange: w.U64(q.Fd); w.I64(q.Offset); w.U64(q.Fd2); w.I64(q.Offset2); w.I64(q.Length); w.I32(q.Flags); break;
            case FopOp.Fallocate: w.U64(q.Fd); w.I32(q.Flags); w.I64(q.Offset); w.I64(q.Length); break;
            case FopOp.Lseek: w.U64(q.Fd); w.I64(q.Offset); w.I32(q.Flags); break;
            case FopOp.Lk: w.U64(q.Fd); w.I32(q.Flags); WireStructs.Write(w, q.Lock); break;
            case FopOp.RebindLocks: w.U64(q.Fd); w.Guid(q.Instance); w.U64(q.Fd2); break;
            case FopOp.Readdir: case FopOp.Readdirp: w.U64(q.Fd); w.I64(q.Offset); w.U32(q.Size); break;
            case FopOp.Setxattr: WireStructs.Write(w, q.Loc); w.String(q.Name); w.Bytes(q.Data.Span); w.I32(q.Flags); break;
            case FopOp.Fsetxattr: w.U64(q.Fd); w.String(q.Name); w.Bytes(q.Data.Span); w.I32(q.Flags); break;
            case FopOp.Getxattr: case FopOp.Removexattr: WireStructs.Write(w, q.Loc); w.String(q.Name); break;
            case FopOp.Fgetxattr: case FopOp.Fremovexattr: w.U64(q.Fd); w.String(q.Name); break;
            default: throw new ArgumentOutOfRangeException(nameof(q), q.Op, "unknown fop");
        }
        return q.Xdata is null ? FrameFlags.None : FrameFlags.Xdata;
    }

    /// <summary>
    /// Decodes a request body. False when it is malformed (unknown op, short or long body, bad
    /// values): the caller closes the connection. Data fields are slices of <paramref name="body"/>.
    /// </summary>
    public static bool TryReadRequest(FopOp op, FrameFlags flags, ReadOnlyMemory<byte> body, out FopRequest q, uint[]? groupsToReuse = null)
    {
        q = new FopRequest(op);
        if (!FopOps.IsKnown(op) || (flags & ~FrameFlags.Xdata) != 0) return false;
        var r = new BodyReader(body);
        q.Caller = WireStructs.ReadCaller(ref r, groupsToReuse);
        if ((flags & FrameFlags.Xdata) != 0) q.Xdata = WireStructs.ReadXdata(ref r);
        switch (op)
        {
            case FopOp.Lookup: case FopOp.Stat: case FopOp.Readlink: case FopOp.Unlink: case FopOp.Rmdir:
            case FopOp.Opendir: case FopOp.Statfs: case FopOp.Listxattr:
                q.Loc = WireStructs.ReadLoc(ref r); break;
            case FopOp.Fstat: case FopOp.Flush: case FopOp.Flistxattr: case FopOp.Release: case FopOp.Releasedir:
                q.Fd = r.U64(); break;
            case FopOp.Fsync: case FopOp.Fsyncdir:
                q.Fd = r.U64(); q.DataOnly = r.Bool(); break;
            case FopOp.Setattr: q.Loc = WireStructs.ReadLoc(ref r); q.Attr = WireStructs.ReadSetAttr(ref r); break;
            case FopOp.Fsetattr: q.Fd = r.U64(); q.Attr = WireStructs.ReadSetAttr(ref r); break;
            case FopOp.Access: q.Loc = WireStructs.ReadLoc(ref r); q.Flags = r.I32(); break;
            case FopOp.Mknod: q.Loc = WireStructs.ReadLoc(ref r); q.Mode = r.U32(); q.Rdev = r.U64(); q.Umask = r.U32(); q.NewGfid = r.Gfid(); break;
            case FopOp.Mkdir: q.Loc = WireStructs.ReadLoc(ref r); q.Mode = r.U32(); q.Umask = r.U32(); q.NewGfid = r.Gfid(); break;
            case FopOp.Symlink: q.Name = r.RequiredString(); q.Loc = WireStructs.ReadLoc(ref r); q.Umask = r.U32(); q.NewGfid = r.Gfid(); break;
            case FopOp.Rename: q.Loc = WireStructs.ReadLoc(ref r); q.Loc2 = WireStructs.ReadLoc(ref r); q.Flags = r.I32(); break;
            case FopOp.Link: q.Loc = WireStructs.ReadLoc(ref r); q.Loc2 = WireStructs.ReadLoc(ref r); break;
            case FopOp.Create: q.Loc = WireStructs.ReadLoc(ref r); q.Flags = r.I32(); q.Mode = r.U32(); q.Umask = r.U32(); q.NewGfid = r.Gfid(); break;
            case FopOp.Open: q.Loc = WireStructs.ReadLoc(ref r); q.Flags = r.I32(); break;
            case FopOp.Readv:
                q.Fd = r.U64(); q.Offset = r.I64(); q.Size = r.U32();
                if (q.Size > FrameHeader.MaxIo) r.Fail();
                break;
            case FopOp.Writev: q.Fd = r.U64(); q.Offset = r.I64(); q.Data = r.Bytes(); break;
            case FopOp.CopyFileRange: q.Fd = r.U64(); q.Offset = r.I64(); q.Fd2 = r.U64(); q.Offset2 = r.I64(); q.Length = r.I64(); q.Flags = r.I32(); break;
            case FopOp.Fallocate: q.Fd = r.U64(); q.Flags = r.I32(); q.Offset = r.I64(); q.Length = r.I64(); break;
            case FopOp.Lseek: q.Fd = r.U64(); q.Offset = r.I64(); q.Flags = r.I32(); break;
            case FopOp.Lk:
                q.Fd = r.U64(); q.Flags = r.I32(); q.Lock = WireStructs.ReadLock(ref r);
                if ((uint)q.Flags > (uint)LockCmd.Reclaim) r.Fail();
                break;
            case FopOp.RebindLocks: q.Fd = r.U64(); q.Instance = r.Guid(); q.Fd2 = r.U64(); break;
            case FopOp.Readdir: case FopOp.Readdirp: q.Fd = r.U64(); q.Offset = r.I64(); q.Size = r.U32(); break;
            case FopOp.Setxattr: q.Loc = WireStructs.ReadLoc(ref r); q.Name = r.RequiredString(); q.Data = r.Bytes(); q.Flags = r.I32(); break;
            case FopOp.Fsetxattr: q.Fd = r.U64(); q.Name = r.RequiredString(); q.Data = r.Bytes(); q.Flags = r.I32(); break;
            case FopOp.Getxattr: case FopOp.Removexattr: q.Loc = WireStructs.ReadLoc(ref r); q.Name = r.RequiredString(); break;
            case FopOp.Fgetxattr: case FopOp.Fremovexattr: q.Fd = r.U64(); q.Name = r.RequiredString(); break;
        }
        return r.Ok;
    }

    public static FrameFlags WriteReply(BodyWriter w, FopOp op, in FopReply p)
    {
        w.I32((int)p.Error);
        if (p.Xdata is { } x) WireStructs.Write(w, x);
        if (p.Error == Errno.OK)
        {
            switch (op)
            {
                case FopOp.Lookup: case FopOp.Stat: case FopOp.Fstat: case FopOp.Setattr: case FopOp.Fsetattr:
                case FopOp.Mknod: case FopOp.Mkdir: case FopOp.Symlink: case FopOp.Rename: case FopOp.Link:
                    WireStructs.Write(w, p.Iatt); break;
                case FopOp.Create: WireStructs.Write(w, p.Iatt); w.U64(p.Fd); break;
                case FopOp.Open: case FopOp.Opendir: w.U64(p.Fd); break;
                case FopOp.Readlink: w.String(p.Text ?? ""); break;
                case FopOp.Readv: w.WriteBulk(p.Data); break;
                case FopOp.Writev: case FopOp.CopyFileRange: case FopOp.Lseek: case FopOp.RebindLocks: w.I64(p.Value); break;
                case FopOp.Lk: WireStructs.Write(w, p.Lock); break;
                case FopOp.Readdir: case FopOp.Readdirp: WireStructs.Write(w, p.Entries ?? []); break;
                case FopOp.Statfs: WireStructs.Write(w, p.Vfs); break;
                case FopOp.Getxattr: case FopOp.Fgetxattr: w.Bytes(p.Bytes ?? []); break;
                case FopOp.Listxattr: case FopOp.Flistxattr: WireStructs.Write(w, p.Names ?? []); break;
            }
        }
        return p.Xdata is null ? FrameFlags.None : FrameFlags.Xdata;
    }

    /// <summary>
    /// Decodes a reply body. Readv's data is left as a slice of <paramref name="body"/>; the
    /// client copies it straight into the caller's buffer. False when the body is malformed.
    /// </summary>
    public static bool TryReadReply(FopOp op, FrameFlags flags, ReadOnlyMemory<byte> body, out FopReply p)
    {
        p = default;
        if (!FopOps.IsKnown(op) || (flags & ~FrameFlags.Xdata) != 0) return false;
        var r = new BodyReader(body);
        p.Error = (Errno)r.I32();
        if (p.Error < 0) return false;
        if ((flags & FrameFlags.Xdata) != 0) p.Xdata = WireStructs.ReadXdata(ref r);
        if (p.Error == Errno.OK)
        {
            switch (op)
            {
                case FopOp.Lookup: case FopOp.Stat: case FopOp.Fstat: case FopOp.Setattr: case FopOp.Fsetattr:
                case FopOp.Mknod: case FopOp.Mkdir: case FopOp.Symlink: case FopOp.Rename: case FopOp.Link:
                    p.Iatt = WireStructs.ReadIatt(ref r); break;
                case FopOp.Create: p.Iatt = WireStructs.ReadIatt(ref r); p.Fd = r.U64(); break;
                case FopOp.Open: case FopOp.Opendir: p.Fd = r.U64(); break;
                case FopOp.Readlink: p.Text = r.RequiredString(); break;
                case FopOp.Readv: p.Data = r.Bytes(); break;
                case FopOp.Writev: case FopOp.CopyFileRange: case FopOp.Lseek: case FopOp.RebindLocks: p.Value = r.I64(); break;
                case FopOp.Lk: p.Lock = WireStructs.ReadLock(ref r); break;
                case FopOp.Readdir: case FopOp.Readdirp: p.Entries = WireStructs.ReadEntries(ref r); break;
                case FopOp.Statfs: p.Vfs = WireStructs.ReadStatVfs(ref r); break;
                case FopOp.Getxattr: case FopOp.Fgetxattr: p.Bytes = r.Bytes().ToArray(); break;
                case FopOp.Listxattr: case FopOp.Flistxattr: p.Names = WireStructs.ReadNames(ref r); break;
            }
        }
        return r.Ok;
    }
}
