using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// Request and reply bodies of every fop. Request body: caller | [xdata] | the op's arguments.
/// Reply body: i32 errno | [xdata] | the op's values when errno is OK. Xdata is present when
/// the header's <see cref="FrameFlags.Xdata"/> bit is set. Bulk data (writev, readv) comes last.
/// The op's arguments and values are laid out as its declaration in the fop list says
/// (Translator.Fops.cs, Request and Reply): WriteArgs, ReadArgs, WriteValues and ReadValues, and
/// the FopOp enum, are generated from it (src/Graft.FopGen).
/// </summary>
[GeneratesFopWire]
public static partial class FopCodec
{
    public static FrameFlags WriteRequest(BodyWriter w, in FopRequest q)
    {
        WireStructs.Write(w, q.Caller);
        if (q.Xdata is { } x) WireStructs.Write(w, x);
        WriteArgs(w, q);
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
        ReadArgs(ref r, ref q);
        if (!ValidArgs(q)) r.Fail();
        return r.Ok;
    }

    public static FrameFlags WriteReply(BodyWriter w, FopOp op, in FopReply p)
    {
        w.I32((int)p.Error);
        if (p.Xdata is { } x) WireStructs.Write(w, x);
        if (p.Error == Errno.OK)
            WriteValues(w, op, p);
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
            ReadValues(ref r, op, ref p);
        return r.Ok;
    }

    /// <summary>The checks of values beyond the layout: a body can be well formed and still ask for what no op allows.</summary>
    private static bool ValidArgs(in FopRequest q) => q.Op switch
    {
        FopOp.Readv => q.Size <= FrameHeader.MaxIo,
        FopOp.Lk => (uint)q.Flags <= (uint)LockCmd.Reclaim,
        FopOp.InodeLk => (uint)q.Flags <= (uint)DomainLockCmd.Unlock && (uint)q.Flags2 <= (uint)LockType.Unlock && q.Offset >= 0 && q.Length >= 0,
        FopOp.EntryLk => (uint)q.Flags <= (uint)DomainLockCmd.Unlock && (uint)q.Flags2 <= (uint)LockType.Unlock,
        FopOp.InodeLkXattrop => (uint)q.Flags <= (uint)DomainLockCmd.Unlock && (uint)q.Flags2 <= (uint)LockType.Unlock && q.Offset >= 0 && q.Length >= 0
                                && q.Name2 is { Length: > 0 },
        FopOp.FinodeLkXattrop => (uint)q.Flags <= (uint)DomainLockCmd.Unlock && (uint)q.Flags2 <= (uint)LockType.Unlock && q.Offset >= 0 && q.Length >= 0
                                && q.Name2 is { Length: > 0 },
        FopOp.CreateInodeLkXattrop => q.Lock.Type is LockType.Read or LockType.Write && q.Lock.Start >= 0 && q.Lock.Length >= 0 && q.Name2 is { Length: > 0 },
        FopOp.ReleaseInodeLkXattrop => (uint)q.Flags2 <= (uint)LockType.Unlock && q.Offset >= 0 && q.Length >= 0 && q.Name2 is { Length: > 0 },
        _ => true,
    };
}
