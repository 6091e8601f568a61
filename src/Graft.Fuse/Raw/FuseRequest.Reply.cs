using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Fuse.Raw.Native;

namespace Graft.Fuse.Raw;

// Reply helpers. Each writes exactly one message (one writev) to the fd the request came from — a reply on
// another cloned fd fails with ENOENT and leaves the caller hanging. They return the write's errno: ENOENT
// means the request was interrupted and is gone, which is normal and needs nothing more.
public sealed unsafe partial class FuseRequest
{
    const int ScratchSize = 256;

    /// <summary>Replies with −errno and no body (a 16-byte message).</summary>
    public Errno ReplyError(Errno error)
    {
        BeginReply();
        return Send(error, 0, null, 0);
    }

    /// <summary>Success with no body (SETXATTR, REMOVEXATTR, UNLINK, RMDIR, RENAME, RELEASE, FSYNC, FLUSH,
    /// ACCESS, FALLOCATE ...).</summary>
    public Errno ReplyOk()
    {
        BeginReply();
        return Send(Errno.OK, 0, null, 0);
    }

    /// <summary>LOOKUP, MKNOD, MKDIR, SYMLINK, LINK. NodeId 0 with EntryValid set caches a negative lookup.</summary>
    public Errno ReplyEntry(in FuseEntryOut entry) => ReplyStruct(entry);

    public Errno ReplyCreate(in FuseEntryOut entry, in FuseOpenOut open)
    {
        BeginReply();
        Unsafe.WriteUnaligned(_scratch + sizeof(FuseOutHeader), entry);
        Unsafe.WriteUnaligned(_scratch + sizeof(FuseOutHeader) + sizeof(FuseEntryOut), open);
        return Send(Errno.OK, sizeof(FuseEntryOut) + sizeof(FuseOpenOut), null, 0);
    }

    public Errno ReplyAttr(in FuseAttrOut attr) => ReplyStruct(attr);
    public Errno ReplyOpen(in FuseOpenOut open) => ReplyStruct(open);
    public Errno ReplyWrite(uint written) => ReplyStruct(new FuseWriteOut { Size = written });
    public Errno ReplyStatFs(in FuseKstatfs st) => ReplyStruct(st);
    public Errno ReplyLseek(ulong offset) => ReplyStruct(new FuseLseekOut { Offset = offset });
    /// <summary>GETLK's answer (SETLK and SETLKW answer with <see cref="ReplyOk"/>).</summary>
    public Errno ReplyLock(in FuseFileLock lk) => ReplyStruct(new FuseLkOut { Lk = lk });
    /// <summary>COPY_FILE_RANGE answers with a write_out.</summary>
    public Errno ReplyCopyFileRange(uint copied) => ReplyWrite(copied);

    Errno ReplyStruct<T>(in T body) where T : unmanaged
    {
        BeginReply();
        Unsafe.WriteUnaligned(_scratch + sizeof(FuseOutHeader), body);
        return Send(Errno.OK, sizeof(T), null, 0);
    }

    /// <summary>Replies with bytes from anywhere (READ, READLINK); header and data go out in one writev.</summary>
    public Errno ReplyData(ReadOnlySpan<byte> data)
    {
        BeginReply();
        fixed (byte* p = data) return Send(Errno.OK, 0, p, data.Length);
    }

    /// <summary>Space in the request's own buffer for reply data, so READ/READDIR need no buffer of their own.
    /// Fill it, then call <see cref="ReplyDataBuffer"/>. Valid until the reply.</summary>
    public Memory<byte> DataBuffer => _memory.Memory[DataOffset..];

    public Errno ReplyDataBuffer(int length)
    {
        if ((uint)length > (uint)(_capacity - DataOffset)) throw new ArgumentOutOfRangeException(nameof(length));
        BeginReply();
        return Send(Errno.OK, 0, _buffer + DataOffset, length);
    }

    /// <summary>GETXATTR/LISTXATTR: with a size query (request size 0) replies the value's length; if the value
    /// does not fit the caller's buffer, ERANGE; otherwise the value itself.</summary>
    public Errno ReplyXattr(ReadOnlySpan<byte> value)
    {
        if (_xattrSize == 0) return ReplyStruct(new FuseGetxattrOut { Size = (uint)value.Length });
        if ((uint)value.Length > _xattrSize) return ReplyError(Errno.ERANGE);
        return ReplyData(value);
    }

    /// <summary>A writer packing READDIR/READDIRPLUS records into <see cref="DataBuffer"/>, limited to the
    /// size the kernel asked for. Reply with <c>ReplyDataBuffer(writer.Length)</c>.</summary>
    public DirentWriter CreateDirentWriter(uint requestedSize, bool plus)
    {
        int limit = (int)Math.Min(requestedSize, (uint)(_capacity - DataOffset));
        return new DirentWriter(new Span<byte>(_buffer + DataOffset, limit), plus);
    }

    internal void SetXattrSize(uint size) => _xattrSize = size;

    void BeginReply()
    {
        if (Interlocked.Exchange(ref _replied, 1) != 0)
            throw new InvalidOperationException($"second reply to FUSE request {Unique} ({Opcode})");
    }

    Errno Send(Errno error, int bodyLength, byte* data, int dataLength)
    {
        var h = (FuseOutHeader*)_scratch;
        h->Len = (uint)(sizeof(FuseOutHeader) + bodyLength + dataLength);
        h->Error = -(int)error;
        h->Unique = Header.Unique;
        var iov = stackalloc LibC.IoVec[2];
        iov[0] = new LibC.IoVec { Base = _scratch, Length = (nuint)(sizeof(FuseOutHeader) + bodyLength) };
        int count = 1;
        if (dataLength > 0)
        {
            iov[1] = new LibC.IoVec { Base = data, Length = (nuint)dataLength };
            count = 2;
        }
        return _session.WriteReply(Fd, iov, count, this);
    }
}
