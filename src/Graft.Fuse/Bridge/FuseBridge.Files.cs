using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

// Open files. READ, WRITE (and GETATTR by fh) are the hot path: the fop context is reused with the pooled
// request, the data stays in the request's buffer, and nothing is allocated when the session completes
// synchronously.
public sealed partial class FuseBridge
{
    public async ValueTask Open(FuseRequest r, FuseOpenIn a)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        // O_TRUNC arrives here (ATOMIC_O_TRUNC) and is applied by the brick with the open, as the caller.
        var res = await _session.OpenAsync(Ctx(r), node, (int)a.Flags).ConfigureAwait(false);
        if (res.Ok && (a.OpenFlags & FuseConst.OpenKillSuidGid) != 0) await DropStaleSetIdAsync(r, node).ConfigureAwait(false);
        await ReplyOpenedAsync(r, res).ConfigureAwait(false);
    }

    async ValueTask ReplyOpenedAsync(FuseRequest r, Result<MountFile> res)
    {
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        // The kernel drops its cached pages on each open (no KEEP_CACHE): close-to-open consistency with
        // other clients of the volume.
        if (r.ReplyOpen(new FuseOpenOut { Fh = res.Value.HandleId }) != Errno.OK)
            await _session.ReleaseAsync(res.Value).ConfigureAwait(false); // interrupted: the kernel will never release this fh
    }

    public async ValueTask Create(FuseRequest r, FuseCreateIn a, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        var res = await _session.CreateAsync(Ctx(r), parent, Str(name), (int)a.Flags, a.Mode, a.Umask).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        var c = res.Value;
        // A new file has no xattrs: the kernel's GETXATTR(security.capability) before its first write is
        // answered from memory for one attribute timeout (as long as the kernel trusts the attributes too).
        if (c.New && _attrTtlMs > 0) c.Node.NoCapabilityUntilMs = Environment.TickCount64 + _attrTtlMs;
        if (r.ReplyCreate(Entry(c.Node, c.Attr), new FuseOpenOut { Fh = c.File.HandleId }) != Errno.OK)
        {
            _session.Forget(c.Node, 1);
            await _session.ReleaseAsync(c.File).ConfigureAwait(false);
        }
    }

    public async ValueTask Read(FuseRequest r, FuseReadIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        var ctx = Ctx(r, groups: false);
        ctx.LockOwner = a.LockOwner;
        var res = await _session.ReadAsync(ctx, file, r.DataBuffer[..(int)a.Size], (long)a.Offset).ConfigureAwait(false);
        if (res.Ok) r.ReplyDataBuffer(res.Value);
        else r.ReplyError(res.Error);
    }

    public async ValueTask Write(FuseRequest r, FuseWriteIn a, ReadOnlyMemory<byte> data)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        // The caller lacks CAP_FSETID: if the file has a set-group-ID bit, whether the brick clears it depends on the
        // caller's groups (a short cache; nothing is read from /proc on the steady path).
        bool kill = (a.WriteFlags & FuseConst.WriteKillSuidGid) != 0;
        var ctx = Ctx(r, groups: kill);
        ctx.LockOwner = a.LockOwner;
        // A layer that keeps the data past this call (write-behind) may keep it in this request's buffer, not a copy.
        ctx.Payload = r;
        var res = await _session.WriteAsync(ctx, file, data, (long)a.Offset).ConfigureAwait(false);
        if (kill && res.Ok) await DropStaleSetIdAsync(r, file.Node).ConfigureAwait(false);
        if (res.Ok) r.ReplyWrite((uint)res.Value);
        else r.ReplyError(res.Error);
    }

    public async ValueTask Release(FuseRequest r, FuseReleaseIn a)
    {
        if (_session.GetFile(a.Fh) is { } file)
        {
            // OFD locks go with their open file (FuseBridge.Locks.cs). flocks (RELEASE_FLOCK_UNLOCK) need nothing
            // here: the brick drops those held through an fd when the fd is released, just below.
            await UnlockOpenFileLocksAsync(r, a.Fh, file).ConfigureAwait(false);
            await _session.ReleaseAsync(file).ConfigureAwait(false);
        }
        r.ReplyOk(); // the kernel ignores RELEASE errors; the fh is gone either way
    }

    public ValueTask ReleaseDir(FuseRequest r, FuseReleaseIn a) => Release(r, a);

    public async ValueTask Flush(FuseRequest r, FuseFlushIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        var ctx = Ctx(r, groups: false);
        ctx.LockOwner = a.LockOwner; // FLUSH releases this owner's POSIX locks
        ForgetLockOwner(a.Fh, a.LockOwner);
        ReplyErrno(r, await _session.FlushAsync(ctx, file).ConfigureAwait(false));
    }

    public async ValueTask Fsync(FuseRequest r, FuseFsyncIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        bool dataOnly = (a.FsyncFlags & FuseConst.FsyncFdatasync) != 0;
        ReplyErrno(r, await _session.FsyncAsync(Ctx(r, groups: false), file, dataOnly).ConfigureAwait(false));
    }

    public async ValueTask FsyncDir(FuseRequest r, FuseFsyncIn a)
    {
        if (!TryFile(r, a.Fh, out var dir)) return;
        bool dataOnly = (a.FsyncFlags & FuseConst.FsyncFdatasync) != 0;
        ReplyErrno(r, await _session.FsyncdirAsync(Ctx(r, groups: false), dir, dataOnly).ConfigureAwait(false));
    }

    public async ValueTask Fallocate(FuseRequest r, FuseFallocateIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        var e = await _session.FallocateAsync(Ctx(r), file, (int)a.Mode, (long)a.Offset, (long)a.Length).ConfigureAwait(false);
        if (e == Errno.OK && r.Uid != 0) await DropStaleSetIdAsync(r, file.Node).ConfigureAwait(false);
        ReplyErrno(r, e);
    }

    public async ValueTask Lseek(FuseRequest r, FuseLseekIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        var res = await _session.LseekAsync(Ctx(r, groups: false), file, (long)a.Offset, (int)a.Whence).ConfigureAwait(false);
        if (res.Ok) r.ReplyLseek((ulong)res.Value);
        else r.ReplyError(res.Error);
    }

    public async ValueTask CopyFileRange(FuseRequest r, FuseCopyFileRangeIn a)
    {
        if (!TryFile(r, a.FhIn, out var fin) || !TryFile(r, a.FhOut, out var fout)) return;
        var res = await _session.CopyFileRangeAsync(Ctx(r), fin, (long)a.OffIn, fout, (long)a.OffOut, (long)a.Len, (uint)a.Flags)
            .ConfigureAwait(false);
        if (res.Ok && r.Uid != 0) await DropStaleSetIdAsync(r, fout.Node).ConfigureAwait(false);
        if (res.Ok) r.ReplyCopyFileRange((uint)Math.Min(res.Value, uint.MaxValue));
        else r.ReplyError(res.Error);
    }
}
