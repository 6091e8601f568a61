using System.Buffers;
using System.Text;
using Graft.Core;
using Graft.Xlators.Storage.Posix;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Distribute;

// Moving a file to the subvolume its name hashes to (a rebalance; docs/distribute.md, "Moving files").
// The rebalance process asks for it name by name with the virtual xattr MigrateKey on the directory;
// the move itself runs here, because only distribute knows the subvolumes. Order, and why:
//  1. the source is opened read-only and marked through that fd (the brick refuses a mark while the file
//     has a writer, and every writer while the mark is on: no write can start and be lost);
//  2. the data goes into the name's link pointer on the new subvolume (made first if missing), by
//     extents, so holes stay holes; then xattrs, fsync, owner and times — it still looks like a pointer,
//     so every lookup still reaches the source;
//  3. the source is compared with what it was when marked, then retired (on disk: never writable again);
//  4. the copy gets its mode and loses its linkto xattr — from here a lookup by name finds it — and the
//     source's name goes (unlink-migrated, which only a retired file allows).
// A failure before 3 truncates the copy back to an empty pointer and unmarks the source; after 3 the move
// is finished whatever happens to this call, and a rerun finishes one that a crash interrupted.
public sealed partial class DistributeTranslator
{
    /// <summary>
    /// setxattr on a directory, root only, value = the name of an entry: moves that entry to the subvolume
    /// its name hashes to. Answers OK (moved), EALREADY (already there), EBUSY (it has a writer, or a writer
    /// came and the move gave way), EINPROGRESS (another move holds it: a rebalance that ended mid-move,
    /// until its brick lets go of the mark), EMLINK (hard links: left where it is), EXDEV (hard links on a
    /// decommissioned subvolume: it cannot be drained), ENOENT (gone), EAGAIN (changed under the move), or
    /// why it failed. Symlinks and special files are moved too (made again where they hash).
    /// </summary>
    public const string MigrateKey = "graft.dht.migrate";

    /// <summary>A flag of <see cref="MigrateKey"/>: the name was listed twice, so an interrupted move may have left a retired copy to remove.</summary>
    public const int MigrateCleanLeftovers = 0x100;

    private const int CopyChunk = 1 << 20;
    private const int SeekData = 3, SeekHole = 4;

    /// <summary>Files moved by this translator, and their bytes of data copied.</summary>
    public long FilesMoved => Interlocked.Read(ref _filesMoved);
    public long BytesMoved => Interlocked.Read(ref _bytesMoved);
    private long _filesMoved, _bytesMoved;

    private async ValueTask<Errno> MigrateAsync(FopContext ctx, Loc dirLoc, ReadOnlyMemory<byte> nameBytes, int flags)
    {
        if (!ctx.IsRoot) return Errno.EPERM;
        if (!IsDirLoc(dirLoc)) return Errno.ENOTDIR;
        if (!IsAllUp()) return Errno.ENOTCONN;
        if (nameBytes.Length == 0) return Errno.EINVAL;
        var name = NameBytes.GetString(nameBytes.Span);
        var dir = dirLoc.Inode!;
        var t = Trusted(ctx);
        var layout = await LayoutOfAsync(ctx, dir.Gfid, dir, 0).ConfigureAwait(false);
        if (!layout.Complete) return layout.HasUnknown ? Errno.ENOTCONN : Errno.EIO;
        int hashed = layout.Search(DhtHash.OfName(name));
        var loc = Loc.Child(dir, name);
        var found = await LookupAsync(t, loc).ConfigureAwait(false);
        if (!found.Ok) return found.Error;
        var file = found.Value;
        if (file.IsDir) return Errno.EISDIR;
        int src = CachedOf(file.Gfid);
        if (src < 0) return Errno.EIO;
        if (src == hashed)
        {
            if ((flags & MigrateCleanLeftovers) != 0) await RemoveRetiredCopiesAsync(t, loc, file.Gfid, hashed).ConfigureAwait(false);
            return Errno.EALREADY;
        }
        // Several names of one file, possibly in other directories: moving one would split them.
        if (file.Nlink > 1) return IsDecommissioned(src) ? Errno.EXDEV : Errno.EMLINK;
        if (!file.IsReg) return await MoveOtherAsync(t, loc, file, src, hashed).ConfigureAwait(false);
        return await MoveFileAsync(t, ctx.Cancellation, loc, file, src, hashed).ConfigureAwait(false);
    }

    /// <summary>
    /// A symlink or special file: it has no data a writer could change, so no mark — it is made again on
    /// <paramref name="dst"/> with its GFID, owner, times and xattrs (in place of its pointer, which holds the
    /// same GFID), then its old name goes. A change made to it in between (chown, an xattr) can be lost: the
    /// window is the few round trips of the move.
    /// </summary>
    private async ValueTask<Errno> MoveOtherAsync(FopContext t, Loc loc, Iatt file, int src, int dst)
    {
        var named = Named(loc);
        string? target = null;
        if (file.IsSymlink)
        {
            var l = await Children[src].ReadlinkAsync(t, named.WithTarget(file.Gfid)).ConfigureAwait(false);
            if (!l.Ok) return l.Error;
            target = l.Value;
        }
        var xattrs = await UserXattrsAsync(t, src, file.Gfid).ConfigureAwait(false);
        await RemovePointerAsync(t, dst, loc, file.Gfid).ConfigureAwait(false);
        var made = target is not null
            ? await Children[dst].SymlinkAsync(t, target, named, 0, file.Gfid).ConfigureAwait(false)
            : await Children[dst].MknodAsync(t, named, file.Mode, file.Rdev, 0, file.Gfid).ConfigureAwait(false);
        if (!made.Ok) return made.Error;
        foreach (var (n, v) in xattrs) await Children[dst].SetxattrAsync(t, Loc.Nameless(file.Gfid), n, v, 0).ConfigureAwait(false);
        var attr = new SetAttr
        {
            Valid = SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Atime | SetAttrValid.Mtime | (target is null ? SetAttrValid.Mode : 0),
            Uid = file.Uid, Gid = file.Gid, Atime = file.Atime, Mtime = file.Mtime, Mode = file.Mode & PosixMode.PermMask,
        };
        var set = await Children[dst].SetattrAsync(t, Loc.Nameless(file.Gfid), attr).ConfigureAwait(false);
        if (!set.Ok) return set.Error;
        var e = await Children[src].UnlinkAsync(t, named).ConfigureAwait(false);
        if (e is not (Errno.OK or Errno.ENOENT)) return e;
        RememberFile(made.Value, null, dst);
        Interlocked.Increment(ref _filesMoved);
        return Errno.OK;
    }

    private async ValueTask<Errno> MoveFileAsync(FopContext t, CancellationToken ct, Loc loc, Iatt file, int src, int dst)
    {
        var table = Graph?.Inodes;
        if (table is null) return Errno.EIO;
        var named = Named(loc).WithTarget(file.Gfid);
        var inode = table.Link(default, null, file);
        Fd? sfd = new Fd(inode, OpenFlags.O_RDONLY), dfd = null;
        table.Unref(inode);
        var dstName = Encoding.UTF8.GetBytes(Children[dst].Name);
        bool marked = false, wrote = false, committed = false;
        long markedAt = 0, copied = 0;
        try
        {
            var e = await Children[src].OpenAsync(t, named, OpenFlags.O_RDONLY, sfd).ConfigureAwait(false);
            if (e != Errno.OK) { sfd.Unref(); sfd = null; return e == Errno.ESTALE ? Errno.ENOENT : e; }
            e = await Children[src].FsetxattrAsync(t, sfd, PosixTranslator.MigratingXattr, dstName, 0).ConfigureAwait(false);
            bool retired = e == Errno.EEXIST;
            if (e == Errno.EALREADY) return Errno.EINPROGRESS;
            if (e == Errno.EBUSY) { await EmptyStalePointerAsync(t, dst, named, file.Gfid).ConfigureAwait(false); return Errno.EBUSY; }
            if (e != Errno.OK && !retired) return e;
            marked = !retired;
            markedAt = Environment.TickCount64;
            var s0r = await Children[src].FstatAsync(t, sfd).ConfigureAwait(false);
            if (!s0r.Ok) return s0r.Error;
            var s0 = s0r.Value;
            if (s0.Nlink != 1) return s0.Nlink == 0 ? Errno.ENOENT : Errno.EMLINK;

            e = await DestPointerAsync(t, dst, named, s0, src).ConfigureAwait(false);
            if (e != Errno.OK) return e;
            dfd = new Fd(inode, OpenFlags.O_WRONLY);
            e = await Children[dst].OpenAsync(t, named, OpenFlags.O_WRONLY, dfd).ConfigureAwait(false);
            if (e != Errno.OK) { dfd.Unref(); dfd = null; return e; }

            // A move the previous run retired the source of may already have a whole copy: its times say so.
            var d0 = await Children[dst].FstatAsync(t, dfd).ConfigureAwait(false);
            bool whole = retired && d0.Ok && d0.Value.Size == s0.Size && d0.Value.Mtime == s0.Mtime;
            if (!whole)
            {
                wrote = true;
                (e, copied) = await CopyDataAsync(t, ct, src, sfd, dst, dfd, s0.Size, marked ? markedAt : 0).ConfigureAwait(false);
                if (e == Errno.OK) e = await CopyXattrsAsync(t, src, sfd, dst, dfd).ConfigureAwait(false);
                if (e == Errno.OK) e = await Children[dst].FsyncAsync(t, dfd, dataOnly: false).ConfigureAwait(false);
                if (e != Errno.OK) return e;
            }
            var s1 = await Children[src].FstatAsync(t, sfd).ConfigureAwait(false);
            if (!s1.Ok) return s1.Error;
            if (!Unchanged(s0, s1.Value)) return Errno.EAGAIN;
            // Owner before mode (a chown clears set-id bits), times last of the data's attributes.
            var owner = new SetAttr
            {
                Valid = SetAttrValid.Uid | SetAttrValid.Gid | SetAttrValid.Atime | SetAttrValid.Mtime,
                Uid = s0.Uid, Gid = s0.Gid, Atime = s0.Atime, Mtime = s0.Mtime,
            };
            var set = await Children[dst].FsetattrAsync(t, dfd, owner).ConfigureAwait(false);
            if (!set.Ok) return set.Error;
            if (marked)
            {
                if (ct.IsCancellationRequested) return Errno.EINTR;
                if (await WriterWaitingAsync(t, src, sfd, markedAt).ConfigureAwait(false)) return Errno.EBUSY;
                // Still our pointer under this name (nothing can have replaced it: see the doc), then retire.
                var there = await Children[dst].LookupAsync(t, Named(loc)).ConfigureAwait(false);
                if (!there.Ok || there.Value.Gfid != file.Gfid) return there.Ok ? Errno.EEXIST : there.Error;
                e = await Children[src].FsetxattrAsync(t, sfd, PosixTranslator.MigratedXattr, dstName, 0).ConfigureAwait(false);
                if (e != Errno.OK) return e;
            }
            committed = true;
            return await CommitAsync(t, loc, named, s0, src, dst, dfd, copied).ConfigureAwait(false);
        }
        finally
        {
            if (!committed)
            {
                // Undo: the copy becomes an empty pointer again, the mark goes (the release would take it too).
                if (wrote && dfd is not null)
                    await Children[dst].FsetattrAsync(t, dfd, new SetAttr { Valid = SetAttrValid.Size, Size = 0 }).ConfigureAwait(false);
                if (marked && sfd is not null)
                    await Children[src].FremovexattrAsync(t, sfd, PosixTranslator.MigratingXattr).ConfigureAwait(false);
            }
            if (dfd is not null) await ReleaseFdAsync(dst, dfd).ConfigureAwait(false);
            if (sfd is not null) await ReleaseFdAsync(src, sfd).ConfigureAwait(false);
        }
    }

    /// <summary>The move's last steps, after the source is retired: the copy becomes the file, the source's name goes.</summary>
    private async ValueTask<Errno> CommitAsync(FopContext t, Loc loc, Loc named, Iatt s0, int src, int dst, Fd dfd, long copied)
    {
        var mode = await Children[dst].FsetattrAsync(t, dfd, new SetAttr { Valid = SetAttrValid.Mode, Mode = s0.Mode & PosixMode.PermMask }).ConfigureAwait(false);
        if (!mode.Ok) return LogMoveStuck(loc, src, "mode", mode.Error);
        var e = await Children[dst].FremovexattrAsync(t, dfd, Linkfile.Xattr).ConfigureAwait(false);
        if (e is not (Errno.OK or Errno.ENODATA)) return LogMoveStuck(loc, src, "linkto", e);
        e = await Children[src].SetxattrAsync(t, Loc.Nameless(loc.ParentGfid), PosixTranslator.UnlinkMigratedXattr,
                                              NameBytes.GetBytes(loc.Name!), 0).ConfigureAwait(false);
        if (e is not (Errno.OK or Errno.ENOENT)) return LogMoveStuck(loc, src, "unlink", e);
        // Pointers of this file on other subvolumes led to where it was.
        foreach (var i in AllSubvols())
            if (i != src && i != dst) await RemovePointerAsync(t, i, loc, s0.Gfid).ConfigureAwait(false);
        RememberFile(s0, null, dst);
        Interlocked.Increment(ref _filesMoved);
        Interlocked.Add(ref _bytesMoved, copied);
        return Errno.OK;
    }

    private Errno LogMoveStuck(Loc loc, int src, string step, Errno e)
    {
        LogMoveUnfinished(_log, Name, loc.ToString(), Children[src].Name, step, e.Name());
        return e;
    }

    /// <summary>The name's link pointer on <paramref name="dst"/>, made if missing: where the copy goes. EEXIST: the name there is something else.</summary>
    private async ValueTask<Errno> DestPointerAsync(FopContext t, int dst, Loc named, Iatt file, int src)
    {
        var there = await Children[dst].LookupAsync(t, Named(named)).ConfigureAwait(false);
        if (there.Ok) return there.Value.Gfid == file.Gfid && Linkfile.Suspect(there.Value) ? Errno.OK : Errno.EEXIST;
        if (there.Error != Errno.ENOENT) return there.Error;
        return await MakePointerAsync(t, dst, named, file, src).ConfigureAwait(false);
    }

    /// <summary>
    /// A move that ended without finishing (the rebalance was killed mid-copy) left data in the pointer;
    /// a file skipped now because it has a writer gets an empty pointer back. Only when no move holds the
    /// file: its mark was refused because of a writer, so nobody is copying into this pointer.
    /// </summary>
    private async ValueTask EmptyStalePointerAsync(FopContext t, int dst, Loc named, Gfid gfid)
    {
        var there = await Children[dst].LookupAsync(t, Named(named)).ConfigureAwait(false);
        if (!there.Ok || there.Value.Gfid != gfid || !Linkfile.Suspect(there.Value) || there.Value.Size == 0) return;
        await Children[dst].SetattrAsync(t, named, new SetAttr { Valid = SetAttrValid.Size, Size = 0 }).ConfigureAwait(false);
    }

    /// <summary>
    /// Data by extents (SEEK_DATA / SEEK_HOLE), so a sparse file stays sparse, then the size. Between
    /// chunks: cancellation, and — while the source is marked — whether a writer has been kept waiting
    /// longer than <c>migrate-yield</c> (then EBUSY: the move gives way).
    /// </summary>
    private async ValueTask<(Errno, long)> CopyDataAsync(FopContext t, CancellationToken ct, int src, Fd sfd, int dst, Fd dfd, long size, long markedAt)
    {
        var trunc = await Children[dst].FsetattrAsync(t, dfd, new SetAttr { Valid = SetAttrValid.Size, Size = 0 }).ConfigureAwait(false);
        if (!trunc.Ok) return (trunc.Error, 0);
        var buf = ArrayPool<byte>.Shared.Rent(CopyChunk);
        long copied = 0;
        try
        {
            bool extents = true;
            for (long off = 0; off < size;)
            {
                long start = off, end = size;
                if (extents)
                {
                    var d = await Children[src].LseekAsync(t, sfd, off, SeekData).ConfigureAwait(false);
                    if (d.Error == Errno.ENXIO) break; // only a hole is left
                    if (d.Ok)
                    {
                        start = d.Value;
                        var h = await Children[src].LseekAsync(t, sfd, start, SeekHole).ConfigureAwait(false);
                        if (h.Ok) end = Math.Min(h.Value, size); else extents = false;
                    }
                    else extents = false;
                    if (!extents) { start = off; end = size; }
                }
                for (long p = start; p < end;)
                {
                    if (ct.IsCancellationRequested) return (Errno.EINTR, copied);
                    if (markedAt != 0 && await WriterWaitingAsync(t, src, sfd, markedAt).ConfigureAwait(false)) return (Errno.EBUSY, copied);
                    int want = (int)Math.Min(CopyChunk, end - p);
                    var r = await Children[src].ReadvAsync(t, sfd, buf.AsMemory(0, want), p).ConfigureAwait(false);
                    if (!r.Ok) return (r.Error, copied);
                    if (r.Value == 0) { end = p; break; } // shorter than it was: the comparison afterwards says so
                    for (int w = 0; w < r.Value;)
                    {
                        var n = await Children[dst].WritevAsync(t, dfd, buf.AsMemory(w, r.Value - w), p + w).ConfigureAwait(false);
                        if (!n.Ok) return (n.Error, copied);
                        if (n.Value <= 0) return (Errno.EIO, copied);
                        w += n.Value;
                    }
                    p += r.Value;
                    copied += r.Value;
                }
                off = Math.Max(end, start + 1);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        var sized = await Children[dst].FsetattrAsync(t, dfd, new SetAttr { Valid = SetAttrValid.Size, Size = size }).ConfigureAwait(false);
        return (sized.Ok ? Errno.OK : sized.Error, copied);
    }

    /// <summary>
    /// Whether a writer refused because of the mark has waited longer than <c>migrate-yield</c>. Asked of
    /// the brick only once the mark is older than that bound (before, nobody can have waited so long).
    /// </summary>
    private async ValueTask<bool> WriterWaitingAsync(FopContext t, int src, Fd sfd, long markedAt)
    {
        long yieldMs = Volatile.Read(ref _migrateYieldMs);
        if (yieldMs == 0 || Environment.TickCount64 - markedAt < yieldMs) return false;
        var w = await Children[src].FgetxattrAsync(t, sfd, PosixTranslator.MigratingXattr).ConfigureAwait(false);
        return w.Ok && w.Value.Length == 8 && System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(w.Value) >= yieldMs;
    }

    /// <summary>The source's xattrs (distribute's own excepted) onto the copy; any other the copy has (a run interrupted earlier) goes.</summary>
    private async ValueTask<Errno> CopyXattrsAsync(FopContext t, int src, Fd sfd, int dst, Fd dfd)
    {
        var names = await Children[src].FlistxattrAsync(t, sfd).ConfigureAwait(false);
        if (!names.Ok) return names.Error;
        var wanted = new HashSet<string>(names.Value.Where(n => !Linkfile.IsInternal(n)), StringComparer.Ordinal);
        foreach (var n in wanted)
        {
            var v = await Children[src].FgetxattrAsync(t, sfd, n).ConfigureAwait(false);
            if (v.Error == Errno.ENODATA) continue;
            if (!v.Ok) return v.Error;
            var e = await Children[dst].FsetxattrAsync(t, dfd, n, v.Value, 0).ConfigureAwait(false);
            if (e != Errno.OK) return e;
        }
        var there = await Children[dst].FlistxattrAsync(t, dfd).ConfigureAwait(false);
        if (!there.Ok) return there.Error;
        foreach (var n in there.Value)
            if (!Linkfile.IsInternal(n) && !wanted.Contains(n))
                await Children[dst].FremovexattrAsync(t, dfd, n).ConfigureAwait(false);
        return Errno.OK;
    }

    private static bool Unchanged(in Iatt a, in Iatt b) =>
        a.Size == b.Size && a.Mtime == b.Mtime && a.Ctime == b.Ctime && a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid && a.Nlink == b.Nlink;

    /// <summary>
    /// A name listed twice: besides the file where its name hashes, another subvolume may hold the
    /// retired source of a move whose last step was interrupted. Those go (only a retired file can).
    /// </summary>
    private async ValueTask RemoveRetiredCopiesAsync(FopContext t, Loc loc, Gfid gfid, int hashed)
    {
        var others = AllBut(hashed);
        var got = await FanOutAsync(others, i => Children[i].LookupAsync(t, Named(loc))).ConfigureAwait(false);
        for (int k = 0; k < others.Length; k++)
        {
            if (!got[k].Ok || got[k].Value.Gfid != gfid || !got[k].Value.IsReg || Linkfile.Suspect(got[k].Value)) continue;
            await Children[others[k]].SetxattrAsync(t, Loc.Nameless(loc.ParentGfid), PosixTranslator.UnlinkMigratedXattr,
                                                    NameBytes.GetBytes(loc.Name!), 0).ConfigureAwait(false);
        }
    }

    private async ValueTask ReleaseFdAsync(int subvol, Fd fd)
    {
        if (fd.Unref()) await Children[subvol].ReleaseAsync(fd).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: move of {Loc} from {Subvol} stopped after its source was retired ({Step}: {Error}); the next rebalance finishes it")]
    private static partial void LogMoveUnfinished(ILogger log, string name, string loc, string subvol, string step, string error);
}
