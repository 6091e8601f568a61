using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>
/// A brick that keeps files in memory and answers every fop synchronously: a real translator
/// at the bottom of a real graph, so the session's own costs (locks, allocations, accounting)
/// can be measured without a disk. <see cref="ReadGate"/> holds reads to pin down what happens
/// while a fop is in flight.
/// </summary>
internal sealed class MemoryBrick : Translator
{
    private sealed class Obj
    {
        public Iatt Attr;
        public byte[] Data = [];
        public string? Target;
        public readonly SortedDictionary<string, Gfid> Children = new(StringComparer.Ordinal);
        public readonly Dictionary<string, byte[]> Xattrs = new(StringComparer.Ordinal);
    }

    public static readonly XlatorSpec Spec = new("test/memory", () => new MemoryBrick(), [], "in-memory brick for tests") { MinChildren = 0, MaxChildren = 0 };

    /// <summary>The same spec, with every brick it makes sharing <paramref name="store"/>'s files: what the graphs of a switch see.</summary>
    public static XlatorSpec SharedSpec(MemoryBrick store) =>
        new("test/memory", () => new MemoryBrick(store), [], "in-memory brick for tests") { MinChildren = 0, MaxChildren = 0 };

    private readonly object _sync;
    private readonly Dictionary<Gfid, Obj> _objs;
    public int Opens, Releases, Releasedirs, Flushes, Fsyncs, Creates;
    public readonly List<Gfid> CreatedGfids = [];
    /// <summary>When set, reads wait for it before answering.</summary>
    public TaskCompletionSource? ReadGate;

    public MemoryBrick() : this(null) { }

    private MemoryBrick(MemoryBrick? shareWith)
    {
        _sync = shareWith?._sync ?? new object();
        _objs = shareWith?._objs ?? new Dictionary<Gfid, Obj>();
        if (shareWith is null) _objs[Gfid.Root] = new Obj { Attr = new Iatt { Gfid = Gfid.Root, Ino = 1, Mode = PosixMode.S_IFDIR | 0x1ED, Nlink = 2 } };
    }

    public override void Notify(GraphEvent ev, Translator? from)
    {
        if (ev == GraphEvent.ParentUp) { NotifyParents(GraphEvent.ChildUp); return; }
        base.Notify(ev, from);
    }

    private static ValueTask<Result<T>> R<T>(T v) => new(new Result<T>(v));
    private static ValueTask<Result<T>> E<T>(Errno e) => new(new Result<T>(e));

    private Obj? Resolve(Loc loc)
    {
        if (loc.Name is null) return _objs.GetValueOrDefault(loc.Inode?.Gfid ?? loc.Gfid);
        if (!_objs.TryGetValue(loc.ParentGfid, out var p) || !p.Children.TryGetValue(loc.Name, out var g)) return null;
        return _objs.GetValueOrDefault(g);
    }

    public override ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        lock (_sync) return Resolve(loc) is { } o ? R(o.Attr) : E<Iatt>(Errno.ENOENT);
    }

    public override ValueTask<Result<Iatt>> StatAsync(FopContext ctx, Loc loc)
    {
        lock (_sync) return Resolve(loc) is { } o ? R(o.Attr) : E<Iatt>(Errno.ENOENT);
    }

    public override ValueTask<Result<Iatt>> FstatAsync(FopContext ctx, Fd fd) =>
        fd.GetCtx(this) is Obj o ? R(o.Attr) : E<Iatt>(Errno.EBADF);

    private static Iatt Apply(Obj o, in SetAttr a)
    {
        if ((a.Valid & SetAttrValid.Mode) != 0) o.Attr.Mode = (o.Attr.Mode & PosixMode.S_IFMT) | (a.Mode & PosixMode.PermMask);
        if ((a.Valid & SetAttrValid.Uid) != 0) o.Attr.Uid = a.Uid;
        if ((a.Valid & SetAttrValid.Gid) != 0) o.Attr.Gid = a.Gid;
        if ((a.Valid & SetAttrValid.Size) != 0) { Array.Resize(ref o.Data, (int)a.Size); o.Attr.Size = a.Size; }
        if ((a.Valid & SetAttrValid.Mtime) != 0) o.Attr.Mtime = a.Mtime;
        if ((a.Valid & SetAttrValid.Atime) != 0) o.Attr.Atime = a.Atime;
        return o.Attr;
    }

    public override ValueTask<Result<Iatt>> SetattrAsync(FopContext ctx, Loc loc, SetAttr attr)
    {
        lock (_sync) return Resolve(loc) is { } o ? R(Apply(o, attr)) : E<Iatt>(Errno.ENOENT);
    }

    public override ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        lock (_sync) return fd.GetCtx(this) is Obj o ? R(Apply(o, attr)) : E<Iatt>(Errno.EBADF);
    }

    private Result<Iatt> Add(Loc loc, Gfid gfid, uint mode, string? target = null)
    {
        if (!_objs.TryGetValue(loc.ParentGfid, out var p)) return Errno.ENOENT;
        if (p.Children.ContainsKey(loc.Name!)) return Errno.EEXIST;
        var o = new Obj { Attr = new Iatt { Gfid = gfid, Ino = Iatt.InoOf(gfid), Mode = mode, Nlink = PosixMode.IsDir(mode) ? 2u : 1u }, Target = target };
        if (target is not null) o.Attr.Size = target.Length;
        _objs[gfid] = o;
        p.Children[loc.Name!] = gfid;
        return o.Attr;
    }

    public override ValueTask<Result<Iatt>> MkdirAsync(FopContext ctx, Loc loc, uint mode, uint umask, Gfid gfid)
    {
        lock (_sync) return new(Add(loc, gfid, PosixMode.S_IFDIR | (mode & ~umask & PosixMode.PermMask)));
    }

    public override ValueTask<Result<Iatt>> MknodAsync(FopContext ctx, Loc loc, uint mode, ulong rdev, uint umask, Gfid gfid)
    {
        lock (_sync) return new(Add(loc, gfid, (mode & PosixMode.S_IFMT) | (mode & ~umask & PosixMode.PermMask)));
    }

    public override ValueTask<Result<Iatt>> SymlinkAsync(FopContext ctx, string target, Loc loc, uint umask, Gfid gfid)
    {
        lock (_sync) return new(Add(loc, gfid, PosixMode.S_IFLNK | 0x1FF, target));
    }

    public override ValueTask<Result<string>> ReadlinkAsync(FopContext ctx, Loc loc)
    {
        lock (_sync) return Resolve(loc) is { Target: { } t } ? R(t) : E<string>(Errno.EINVAL);
    }

    public override ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
    {
        lock (_sync)
        {
            Creates++;
            CreatedGfids.Add(gfid);
            if (Resolve(loc) is { } existing)
            {
                if ((flags & OpenFlags.O_EXCL) != 0) return E<Iatt>(Errno.EEXIST);
                fd.SetCtx(this, existing);
                return R(existing.Attr);
            }
            var r = Add(loc, gfid, PosixMode.S_IFREG | (mode & ~umask & PosixMode.PermMask));
            if (r.Ok) { fd.SetCtx(this, _objs[gfid]); Opens++; }
            return new(r);
        }
    }

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd)
    {
        lock (_sync)
        {
            if (Resolve(loc) is not { } o) return new(Errno.ENOENT);
            if ((flags & OpenFlags.O_TRUNC) != 0) { o.Data = []; o.Attr.Size = 0; }
            fd.SetCtx(this, o);
            Opens++;
            return new(Errno.OK);
        }
    }

    public override ValueTask<Errno> OpendirAsync(FopContext ctx, Loc loc, Fd fd) => OpenAsync(ctx, loc, 0, fd);

    public override ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        if (ReadGate is { } gate) return GatedRead(gate, fd, buffer, offset);
        return new(Read(fd, buffer.Span, offset));
    }

    private async ValueTask<Result<int>> GatedRead(TaskCompletionSource gate, Fd fd, Memory<byte> buffer, long offset)
    {
        await gate.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return Read(fd, buffer.Span, offset);
    }

    private Result<int> Read(Fd fd, Span<byte> buffer, long offset)
    {
        if (fd.GetCtx(this) is not Obj o) return Errno.EBADF;
        lock (_sync)
        {
            if (offset >= o.Attr.Size) return 0;
            var n = (int)Math.Min(buffer.Length, o.Attr.Size - offset);
            o.Data.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }
    }

    public override ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        if (fd.GetCtx(this) is not Obj o) return E<int>(Errno.EBADF);
        lock (_sync)
        {
            if ((fd.Flags & OpenFlags.O_APPEND) != 0) offset = o.Attr.Size;
            var end = offset + data.Length;
            if (end > o.Data.Length) Array.Resize(ref o.Data, (int)Math.Max(end, o.Data.Length * 2L));
            data.Span.CopyTo(o.Data.AsSpan((int)offset));
            if (end > o.Attr.Size) o.Attr.Size = end;
            return R(data.Length);
        }
    }

    /// <summary>Lock calls as they arrived; each is granted unless it is a reclaim and <see cref="RefuseReclaims"/> is set.</summary>
    public readonly List<(LockCmd Cmd, FileLock Lock)> LockCalls = [];
    public Errno RefuseReclaims;

    public override ValueTask<Result<FileLock>> LkAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        lock (LockCalls) LockCalls.Add((cmd, lk));
        return cmd == LockCmd.Reclaim && RefuseReclaims != Errno.OK ? E<FileLock>(RefuseReclaims) : R(lk);
    }

    /// <summary>This brick keeps no locks (it grants every request), so a migration's re-bind has nothing to move.</summary>
    public override ValueTask<Result<int>> RebindLocksAsync(FopContext ctx, Fd from, Fd to) => R(0);

    /// <summary>Tells the graph above that the brick lost this mount's state, as a reconnect to a restarted brick does.</summary>
    public void Reset() => NotifyParents(GraphEvent.ChildReset);

    /// <summary>The connection to the brick drops (CHILD_DOWN), as protocol/client reports it.</summary>
    public void Disconnect() => NotifyParents(GraphEvent.ChildDown);

    /// <summary>The connection is made again (CHILD_UP).</summary>
    public void Reconnect() => NotifyParents(GraphEvent.ChildUp);

    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) { Interlocked.Increment(ref Flushes); return new(Errno.OK); }
    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly) { Interlocked.Increment(ref Fsyncs); return new(Errno.OK); }
    public override ValueTask<Errno> FsyncdirAsync(FopContext ctx, Fd fd, bool dataOnly) => new(Errno.OK);

    public override ValueTask ReleaseAsync(Fd fd) { Interlocked.Increment(ref Releases); return default; }
    public override ValueTask ReleasedirAsync(Fd fd) { Interlocked.Increment(ref Releasedirs); return default; }

    private Errno Remove(Loc loc, bool dir)
    {
        if (!_objs.TryGetValue(loc.ParentGfid, out var p) || !p.Children.TryGetValue(loc.Name!, out var g)) return Errno.ENOENT;
        var o = _objs[g];
        if (dir != o.Attr.IsDir) return dir ? Errno.ENOTDIR : Errno.EISDIR;
        if (dir && o.Children.Count > 0) return Errno.ENOTEMPTY;
        p.Children.Remove(loc.Name!);
        if (--o.Attr.Nlink == 0 || dir) _objs.Remove(g);
        return Errno.OK;
    }

    public override ValueTask<Errno> UnlinkAsync(FopContext ctx, Loc loc) { lock (_sync) return new(Remove(loc, false)); }
    public override ValueTask<Errno> RmdirAsync(FopContext ctx, Loc loc) { lock (_sync) return new(Remove(loc, true)); }

    public override ValueTask<Result<Iatt>> RenameAsync(FopContext ctx, Loc oldLoc, Loc newLoc, RenameFlags flags)
    {
        lock (_sync)
        {
            if (!_objs.TryGetValue(oldLoc.ParentGfid, out var op) || !op.Children.TryGetValue(oldLoc.Name!, out var g)) return E<Iatt>(Errno.ENOENT);
            if (!_objs.TryGetValue(newLoc.ParentGfid, out var np)) return E<Iatt>(Errno.ENOENT);
            var exists = np.Children.TryGetValue(newLoc.Name!, out var other);
            if ((flags & RenameFlags.NoReplace) != 0 && exists) return E<Iatt>(Errno.EEXIST);
            if ((flags & RenameFlags.Exchange) != 0)
            {
                if (!exists) return E<Iatt>(Errno.ENOENT);
                op.Children[oldLoc.Name!] = other;
                np.Children[newLoc.Name!] = g;
                return R(_objs[g].Attr);
            }
            op.Children.Remove(oldLoc.Name!);
            np.Children[newLoc.Name!] = g;
            return R(_objs[g].Attr);
        }
    }

    public override ValueTask<Result<Iatt>> LinkAsync(FopContext ctx, Loc oldLoc, Loc newLoc)
    {
        lock (_sync)
        {
            if (Resolve(oldLoc) is not { } o) return E<Iatt>(Errno.ENOENT);
            if (!_objs.TryGetValue(newLoc.ParentGfid, out var np)) return E<Iatt>(Errno.ENOENT);
            if (np.Children.ContainsKey(newLoc.Name!)) return E<Iatt>(Errno.EEXIST);
            np.Children[newLoc.Name!] = o.Attr.Gfid;
            o.Attr.Nlink++;
            return R(o.Attr);
        }
    }

    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirAsync(FopContext ctx, Fd fd, long offset, int maxEntries) => List(fd, offset, maxEntries, false);
    public override ValueTask<Result<IReadOnlyList<DirEntry>>> ReaddirpAsync(FopContext ctx, Fd fd, long offset, int maxEntries) => List(fd, offset, maxEntries, true);

    /// <summary>Backend offsets are deliberately not small integers (1000 + index), so tests can tell them from session cookies.</summary>
    private ValueTask<Result<IReadOnlyList<DirEntry>>> List(Fd fd, long offset, int max, bool plus)
    {
        if (fd.GetCtx(this) is not Obj d) return E<IReadOnlyList<DirEntry>>(Errno.EBADF);
        lock (_sync)
        {
            var all = d.Children.ToList();
            var start = offset == 0 ? 0 : (int)(offset - 1000);
            var list = new List<DirEntry>();
            for (int i = start; i < all.Count && list.Count < max; i++)
            {
                var o = _objs[all[i].Value];
                list.Add(new DirEntry { Name = all[i].Key, Gfid = o.Attr.Gfid, Ino = o.Attr.Ino, Type = o.Attr.Type, NextOffset = 1000 + i + 1, Iatt = plus ? o.Attr : null });
            }
            return R<IReadOnlyList<DirEntry>>(list);
        }
    }

    public override ValueTask<Result<StatVfs>> StatfsAsync(FopContext ctx, Loc loc) => R(new StatVfs { Bsize = 4096, Blocks = 100, NameMax = 255 });

    public override ValueTask<Errno> SetxattrAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> value, int flags)
    {
        lock (_sync)
        {
            if (Resolve(loc) is not { } o) return new(Errno.ENOENT);
            o.Xattrs[name] = value.ToArray();
            return new(Errno.OK);
        }
    }

    public override ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
    {
        lock (_sync) return Resolve(loc) is { } o ? (o.Xattrs.TryGetValue(name, out var v) ? R(v) : E<byte[]>(Errno.ENODATA)) : E<byte[]>(Errno.ENOENT);
    }
}
