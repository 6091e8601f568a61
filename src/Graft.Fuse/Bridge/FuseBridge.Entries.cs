using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

// Names and attributes: lookup, the namespace fops, attributes, links, statfs, xattrs, access.
public sealed partial class FuseBridge
{
    public async ValueTask Lookup(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        var res = await _session.LookupAsync(Ctx(r), parent, Str(name)).ConfigureAwait(false);
        if (res.Ok) ReplyEntry(r, res.Value);
        else if (res.Error == Errno.ENOENT && Lifetimes.Negative is var n && n != (0, 0))
            // nodeid 0 with a lifetime: the kernel caches that the name does not exist.
            r.ReplyEntry(new FuseEntryOut { EntryValid = n.Sec, EntryValidNsec = n.Nsec });
        else r.ReplyError(res.Error);
    }

    public async ValueTask GetAttr(FuseRequest r, FuseGetattrIn a)
    {
        Result<Iatt> res;
        MountNode node;
        // With GETATTR_FH the kernel names the open file (fstat): the hot path, resolved by fd.
        if ((a.GetattrFlags & FuseConst.GetattrFh) != 0 && _session.GetFile(a.Fh) is { } file)
        {
            node = file.Node;
            res = await _session.GetattrAsync(Ctx(r, groups: false), file).ConfigureAwait(false);
        }
        else if (TryNode(r, r.NodeId, out node))
            res = await _session.GetattrAsync(Ctx(r), node).ConfigureAwait(false);
        else return;
        if (res.Ok) r.ReplyAttr(AttrOut(node, res.Value));
        else r.ReplyError(res.Error);
    }

    const uint SetAttrBits = FuseConst.FattrMode | FuseConst.FattrUid | FuseConst.FattrGid | FuseConst.FattrSize
        | FuseConst.FattrAtime | FuseConst.FattrMtime | FuseConst.FattrAtimeNow | FuseConst.FattrMtimeNow | FuseConst.FattrCtime;

    public async ValueTask SetAttr(FuseRequest r, FuseSetattrIn a)
    {
        // FATTR_* and SetAttrValid share their bit values.
        var sa = new SetAttr
        {
            Valid = (SetAttrValid)(a.Valid & SetAttrBits),
            Mode = a.Mode, Uid = a.Uid, Gid = a.Gid, Size = (long)a.Size,
            Atime = new Timespec((long)a.Atime, a.AtimeNsec),
            Mtime = new Timespec((long)a.Mtime, a.MtimeNsec),
            Ctime = new Timespec((long)a.Ctime, a.CtimeNsec),
        };
        var ctx = Ctx(r);
        if ((a.Valid & FuseConst.FattrLockOwner) != 0) ctx.LockOwner = a.LockOwner;
        Result<Iatt> res;
        MountNode node;
        if ((a.Valid & FuseConst.FattrFh) != 0 && _session.GetFile(a.Fh) is { } file)
        {
            node = file.Node;
            res = await _session.SetattrAsync(ctx, file, sa).ConfigureAwait(false);
        }
        else if (TryNode(r, r.NodeId, out node))
            res = await _session.SetattrAsync(ctx, node, sa).ConfigureAwait(false);
        else return;
        if (res.Ok) r.ReplyAttr(AttrOut(node, res.Value));
        else r.ReplyError(res.Error);
    }

    public async ValueTask ReadLink(FuseRequest r)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        var res = await _session.ReadlinkAsync(Ctx(r), node).ConfigureAwait(false);
        if (res.Ok) r.ReplyData(NameBytes.GetBytes(res.Value));
        else r.ReplyError(res.Error);
    }

    public async ValueTask Symlink(FuseRequest r, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> target)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        ReplyEntryResult(r, await _session.SymlinkAsync(Ctx(r), parent, Str(name), Str(target)).ConfigureAwait(false));
    }

    public async ValueTask Mknod(FuseRequest r, FuseMknodIn a, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        ReplyEntryResult(r, await _session.MknodAsync(Ctx(r), parent, Str(name), a.Mode, a.Rdev, a.Umask).ConfigureAwait(false));
    }

    public async ValueTask Mkdir(FuseRequest r, FuseMkdirIn a, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        ReplyEntryResult(r, await _session.MkdirAsync(Ctx(r), parent, Str(name), a.Mode, a.Umask).ConfigureAwait(false));
    }

    public async ValueTask Unlink(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        ReplyErrno(r, await _session.UnlinkAsync(Ctx(r), parent, Str(name)).ConfigureAwait(false));
    }

    public async ValueTask Rmdir(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var parent)) return;
        ReplyErrno(r, await _session.RmdirAsync(Ctx(r), parent, Str(name)).ConfigureAwait(false));
    }

    public async ValueTask Rename(FuseRequest r, ReadOnlyMemory<byte> oldName, ulong newDir, ReadOnlyMemory<byte> newName, uint flags)
    {
        if (!TryNode(r, r.NodeId, out var from) || !TryNode(r, newDir, out var to)) return;
        var res = await _session.RenameAsync(Ctx(r), from, Str(oldName), to, Str(newName), (RenameFlags)flags).ConfigureAwait(false);
        ReplyErrno(r, res.Error);
    }

    public async ValueTask Link(FuseRequest r, ulong oldNodeId, ReadOnlyMemory<byte> newName)
    {
        if (!TryNode(r, oldNodeId, out var node) || !TryNode(r, r.NodeId, out var parent)) return;
        ReplyEntryResult(r, await _session.LinkAsync(Ctx(r), node, parent, Str(newName)).ConfigureAwait(false));
    }

    public async ValueTask StatFs(FuseRequest r)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        var res = await _session.StatfsAsync(Ctx(r), node).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        var s = res.Value;
        r.ReplyStatFs(new FuseKstatfs
        {
            Blocks = s.Blocks, Bfree = s.Bfree, Bavail = s.Bavail, Files = s.Files, Ffree = s.Ffree,
            Bsize = s.Bsize, Frsize = s.Frsize != 0 ? s.Frsize : s.Bsize, NameLen = s.NameMax != 0 ? s.NameMax : 255,
        });
    }

    public async ValueTask Access(FuseRequest r, uint mask)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        ReplyErrno(r, await _session.AccessAsync(Ctx(r), node, (int)mask).ConfigureAwait(false));
    }

    public async ValueTask SetXattr(FuseRequest r, FuseSetxattrIn a, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        node.NoCapabilityUntilMs = 0;   // before the change is sent: no GETXATTR after it is answered from memory
        ReplyErrno(r, await _session.SetxattrAsync(Ctx(r), node, Str(name), value, (int)a.Flags).ConfigureAwait(false));
    }

    public async ValueTask GetXattr(FuseRequest r, uint size, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        // The kernel asks for this one before the first write of every open (to strip file capabilities);
        // for a file this mount just created the answer is known (FuseBridge.Files.cs, Create).
        if (Environment.TickCount64 < node.NoCapabilityUntilMs && name.Span.SequenceEqual(SecurityCapability))
        {
            r.ReplyError(Errno.ENODATA);
            return;
        }
        var res = await _session.GetxattrAsync(Ctx(r), node, Str(name)).ConfigureAwait(false);
        if (res.Ok) r.ReplyXattr(res.Value);
        else r.ReplyError(res.Error);
    }

    public async ValueTask ListXattr(FuseRequest r, uint size)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        var res = await _session.ListxattrAsync(Ctx(r), node).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        int total = 0;
        foreach (var n in res.Value) total += NameBytes.GetByteCount(n) + 1;
        var list = new byte[total];
        int at = 0;
        foreach (var n in res.Value)
        {
            at += NameBytes.GetBytes(n, list.AsSpan(at));
            list[at++] = 0;
        }
        r.ReplyXattr(list);
    }

    public async ValueTask RemoveXattr(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        node.NoCapabilityUntilMs = 0;
        ReplyErrno(r, await _session.RemovexattrAsync(Ctx(r), node, Str(name)).ConfigureAwait(false));
    }

    static ReadOnlySpan<byte> SecurityCapability => "security.capability"u8;

    static void ReplyErrno(FuseRequest r, Errno e)
    {
        if (e == Errno.OK) r.ReplyOk();
        else r.ReplyError(e);
    }
}
