using System.Runtime.InteropServices;
using Graft.Core;

namespace Graft.Fuse.Raw;

// Parsing each opcode's arguments and handing them to the filesystem.
public sealed unsafe partial class FuseSession
{
    volatile bool _extensionsValid;

    /// <summary>
    /// Parses one request and hands it to the filesystem. Never throws: the reader thread that called it must go
    /// on reading whatever one request contained. Until the request is registered and given to its handler
    /// (after which <see cref="FuseRequest.Track"/> answers EIO for a handler that throws), an exception is
    /// answered here, EIO for a request that takes a reply, and logged once with its opcode.
    /// </summary>
    void Dispatch(FuseRequest r, int fd, int length)
    {
        bool forHandler;
        try { forHandler = Prepare(r, fd, length); }
        catch (Exception e)
        {
            FailUndispatched(r, e);
            return;
        }
        if (!forHandler) return;
        Register(r);
        ValueTask task;
        try
        {
            task = Call(r, r.Opcode);
        }
        catch (Exception e)
        {
            r.Finish(e);
            return;
        }
        r.Track(task);
    }

    /// <summary>Checks the header and answers what the session answers itself (FORGET, INTERRUPT, INIT ...). True when
    /// the request is for the filesystem. Each branch that gives the request back (Return) does so as its last step, so
    /// an exception never finds a request that is already someone else's.</summary>
    bool Prepare(FuseRequest r, int fd, int length)
    {
        if (!r.Begin(fd, length, _extensionsValid))
        {
            LogMalformed(length);
            if (length >= sizeof(FuseInHeader)) { r.ReplyError(Errno.EIO); Release(r); }
            else Return(r);
            return false;
        }
        var op = r.Opcode;
        if (_options.Debug) LogRequest(r.Unique, op, r.NodeId, r.Uid, r.Pid, length);
        switch (op)
        {
            case FuseOpcode.Forget:
            {
                Span<FuseForgetOne> one = [new FuseForgetOne { NodeId = r.NodeId, NLookup = Arg<ulong>(r.Payload) }];
                NoReply(r, one);
                return false;
            }
            case FuseOpcode.BatchForget:
            {
                var p = r.Payload;
                if (p.Length < sizeof(FuseBatchForgetIn))
                {
                    LogMalformed(length); // takes no reply, so there is nobody to tell
                    r.MarkNoReply();
                    Return(r);
                    return false;
                }
                uint count = Arg<FuseBatchForgetIn>(p).Count;
                var items = MemoryMarshal.Cast<byte, FuseForgetOne>(p[sizeof(FuseBatchForgetIn)..]);
                NoReply(r, items[..(int)Math.Min(count, (uint)items.Length)]);
                return false;
            }
            case FuseOpcode.Interrupt:
                r.MarkNoReply();
                OnInterrupt(Arg<FuseInterruptIn>(r.Payload).Unique, r.Unique, fd);
                Return(r);
                return false;
            case FuseOpcode.NotifyReply: // data for a NOTIFY_RETRIEVE we never send; takes no reply
                r.MarkNoReply();
                Return(r);
                return false;
            case FuseOpcode.Init:
                HandleInit(r);
                Return(r);
                return false;
        }
        return true;
    }

    /// <summary>An exception before the request reached a handler: EIO if it takes a reply and has none yet.</summary>
    void FailUndispatched(FuseRequest r, Exception e)
    {
        bool hasHeader = r.Length >= sizeof(FuseInHeader);
        var op = hasHeader ? r.Opcode : 0;
        LogDispatchFailed(hasHeader ? r.Unique : 0, op, e);
        try
        {
            if (hasHeader && !r.Replied && op is not (FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt or FuseOpcode.NotifyReply))
                r.ReplyError(Errno.EIO);
            if (op == FuseOpcode.Init) _initDone.TrySetException(e);
        }
        finally { Return(r); }
    }

    void NoReply(FuseRequest r, ReadOnlySpan<FuseForgetOne> forgets)
    {
        r.MarkNoReply();
        try { _fs.Forget(forgets); }
        catch (Exception e) { LogHandlerFailed(r.Unique, r.Opcode, e); }
        Return(r);
    }

    ValueTask Call(FuseRequest r, FuseOpcode op)
    {
        var p = r.Payload;
        const int H = 40; // sizeof(FuseInHeader): names are addressed from the start of the buffer
        switch (op)
        {
            case FuseOpcode.Lookup: return _fs.Lookup(r, Name(r, H, p, out _));
            case FuseOpcode.GetAttr: return _fs.GetAttr(r, Arg<FuseGetattrIn>(p));
            case FuseOpcode.SetAttr: return _fs.SetAttr(r, Arg<FuseSetattrIn>(p));
            case FuseOpcode.ReadLink: return _fs.ReadLink(r);
            case FuseOpcode.Symlink:
            {
                var name = Name(r, H, p, out int next);
                return _fs.Symlink(r, name, Name(r, H + next, p[next..], out _));
            }
            case FuseOpcode.Mknod:
                if (p.Length < 16) break;
                return _fs.Mknod(r, Arg<FuseMknodIn>(p), Name(r, H + 16, p[16..], out _));
            case FuseOpcode.Mkdir:
                if (p.Length < 8) break;
                return _fs.Mkdir(r, Arg<FuseMkdirIn>(p), Name(r, H + 8, p[8..], out _));
            case FuseOpcode.Unlink: return _fs.Unlink(r, Name(r, H, p, out _));
            case FuseOpcode.Rmdir: return _fs.Rmdir(r, Name(r, H, p, out _));
            case FuseOpcode.Rename:
            case FuseOpcode.Rename2:
            {
                int fixedLen = op == FuseOpcode.Rename ? 8 : 16;
                if (p.Length < fixedLen) break;
                var a = Arg<FuseRename2In>(p[..fixedLen]);
                var oldName = Name(r, H + fixedLen, p[fixedLen..], out int next);
                var newName = Name(r, H + fixedLen + next, p[(fixedLen + next)..], out _);
                return _fs.Rename(r, oldName, a.NewDir, newName, op == FuseOpcode.Rename ? 0 : a.Flags);
            }
            case FuseOpcode.Link:
                if (p.Length < 8) break;
                return _fs.Link(r, Arg<ulong>(p), Name(r, H + 8, p[8..], out _));
            case FuseOpcode.Open: return _fs.Open(r, Arg<FuseOpenIn>(p));
            case FuseOpcode.Read:
            {
                var a = Arg<FuseReadIn>(p);
                if (a.Size > r.Capacity - FuseRequest.DataOffset) break;
                return _fs.Read(r, a);
            }
            case FuseOpcode.Write:
            {
                var a = Arg<FuseWriteIn>(p);
                int at = sizeof(FuseWriteIn);
                if (p.Length - at < a.Size) break;
                return _fs.Write(r, a, r.MemoryAt(H + at, (int)a.Size));
            }
            case FuseOpcode.StatFs: return _fs.StatFs(r);
            case FuseOpcode.Release: return _fs.Release(r, Arg<FuseReleaseIn>(p));
            case FuseOpcode.Fsync: return _fs.Fsync(r, Arg<FuseFsyncIn>(p));
            case FuseOpcode.SetXattr:
            {
                // 8-byte setxattr_in: SETXATTR_EXT (16 bytes) is not negotiated.
                if (p.Length < 8) break;
                var a = Arg<FuseSetxattrIn>(p);
                var name = Name(r, H + 8, p[8..], out int next);
                int valueAt = 8 + next;
                if (p.Length - valueAt < a.Size) break;
                return _fs.SetXattr(r, a, name, r.MemoryAt(H + valueAt, (int)a.Size));
            }
            case FuseOpcode.GetXattr:
            {
                if (p.Length < 8) break;
                var a = Arg<FuseGetxattrIn>(p);
                r.SetXattrSize(a.Size);
                return _fs.GetXattr(r, a.Size, Name(r, H + 8, p[8..], out _));
            }
            case FuseOpcode.ListXattr:
            {
                var a = Arg<FuseGetxattrIn>(p);
                r.SetXattrSize(a.Size);
                return _fs.ListXattr(r, a.Size);
            }
            case FuseOpcode.RemoveXattr: return _fs.RemoveXattr(r, Name(r, H, p, out _));
            case FuseOpcode.Flush: return _fs.Flush(r, Arg<FuseFlushIn>(p));
            case FuseOpcode.OpenDir: return _fs.OpenDir(r, Arg<FuseOpenIn>(p));
            case FuseOpcode.ReadDir: return _fs.ReadDir(r, Arg<FuseReadIn>(p));
            case FuseOpcode.ReadDirPlus: return _fs.ReadDirPlus(r, Arg<FuseReadIn>(p));
            case FuseOpcode.ReleaseDir: return _fs.ReleaseDir(r, Arg<FuseReleaseIn>(p));
            case FuseOpcode.FsyncDir: return _fs.FsyncDir(r, Arg<FuseFsyncIn>(p));
            case FuseOpcode.Access: return _fs.Access(r, Arg<FuseAccessIn>(p).Mask);
            case FuseOpcode.Create:
                if (p.Length < 16) break;
                return _fs.Create(r, Arg<FuseCreateIn>(p), Name(r, H + 16, p[16..], out _));
            case FuseOpcode.Fallocate: return _fs.Fallocate(r, Arg<FuseFallocateIn>(p));
            case FuseOpcode.Lseek: return _fs.Lseek(r, Arg<FuseLseekIn>(p));
            case FuseOpcode.CopyFileRange: return _fs.CopyFileRange(r, Arg<FuseCopyFileRangeIn>(p));
            case FuseOpcode.GetLk: return _fs.GetLk(r, Arg<FuseLkIn>(p));
            case FuseOpcode.SetLk:
            case FuseOpcode.SetLkW:
                return _fs.SetLk(r, Arg<FuseLkIn>(p), wait: op == FuseOpcode.SetLkW);
            case FuseOpcode.Destroy:
                // Only some mount types send it, before the connection ends; the readers stop on ENODEV.
                r.ReplyOk();
                return ValueTask.CompletedTask;
            default:
                // STATX, SYNCFS, TMPFILE, IOCTL, POLL, BMAP and anything newer (and locks, for a filesystem that
                // does not serve them: they are then not negotiated, so only a misbehaving kernel sends them): the
                // kernel remembers ENOSYS and falls back (STATX to GETATTR) or fails the call cleanly.
                r.ReplyError(Errno.ENOSYS);
                return ValueTask.CompletedTask;
        }
        // A request whose lengths do not add up: the kernel never sends one; refuse it without ENOSYS.
        r.ReplyError(Errno.EINVAL);
        return ValueTask.CompletedTask;
    }

    /// <summary>The NUL-terminated name at the start of <paramref name="p"/>, as memory over the request buffer
    /// (<paramref name="bufferOffset"/> is where p starts in it); <paramref name="next"/> is just past the NUL.</summary>
    static ReadOnlyMemory<byte> Name(FuseRequest r, int bufferOffset, ReadOnlySpan<byte> p, out int next)
    {
        int len = p.IndexOf((byte)0);
        if (len < 0) len = p.Length;
        next = Math.Min(len + 1, p.Length);
        return r.MemoryAt(bufferOffset, len);
    }
}
