using System.Text;
using Graft.Core;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>
/// A small in-memory filesystem written against the raw interface, for mount tests. One lock guards
/// everything (it is a test filesystem); handlers reply synchronously except where a test needs a wait.
/// A file named "block" makes OPEN wait on the request's token (for INTERRUPT tests).
/// </summary>
sealed class MemoryFs : IFuseFileSystem
{
    const uint S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFMT = 0xF000;

    sealed class Node
    {
        public ulong Id;
        public uint Mode;
        public uint Uid, Gid, Rdev;
        public uint Nlink = 1;
        public byte[] Data = [];
        public long Size;
        public string? Target;
        public readonly SortedDictionary<string, ulong> Children = new(StringComparer.Ordinal);
        public readonly Dictionary<string, byte[]> Xattrs = new(StringComparer.Ordinal);
        public ulong Lookups;
        public DateTime Mtime = DateTime.UtcNow, Ctime = DateTime.UtcNow, Atime = DateTime.UtcNow;
        public bool IsDir => (Mode & S_IFMT) == S_IFDIR;
    }

    readonly Lock _lock = new();
    readonly Dictionary<ulong, Node> _nodes = [];
    readonly Dictionary<ulong, List<(string Name, ulong Id)>> _dirHandles = [];
    ulong _nextId = 2, _nextFh = 1;

    public int ReadDirCalls;
    public int Forgets;
    public int Interrupted;
    public readonly TaskCompletionSource BlockedOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public readonly TaskCompletionSource<Errno> BlockedOpenReplied = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public FuseConnectionInfo? Connection;
    public uint LastCreateUid;
    public uint[] LastCreateGroups = [];

    public MemoryFs() => _nodes[1] = new Node { Id = 1, Mode = S_IFDIR | 0x1FF, Nlink = 2 };

    public void Initialized(FuseConnectionInfo connection) => Connection = connection;

    static string Str(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    FuseEntryOut Entry(Node n)
    {
        n.Lookups++;
        return new FuseEntryOut { NodeId = n.Id, Generation = 1, Attr = Attr(n) };
    }

    static FuseAttr Attr(Node n)
    {
        static (ulong, uint) T(DateTime t) { var ts = t - DateTime.UnixEpoch; return ((ulong)ts.Ticks / 10_000_000, (uint)(ts.Ticks % 10_000_000) * 100); }
        var (a, an) = T(n.Atime); var (m, mn) = T(n.Mtime); var (c, cn) = T(n.Ctime);
        return new FuseAttr
        {
            Ino = n.Id, Mode = n.Mode, Nlink = n.Nlink, Uid = n.Uid, Gid = n.Gid, Rdev = n.Rdev,
            Size = n.IsDir ? 4096 : (ulong)(n.Target?.Length ?? (int)n.Size),
            Blocks = ((ulong)n.Size + 511) / 512, BlkSize = 4096,
            Atime = a, AtimeNsec = an, Mtime = m, MtimeNsec = mn, Ctime = c, CtimeNsec = cn,
        };
    }

    static FuseAttrOut AttrOut(Node n) => new() { Attr = Attr(n) };

    Errno Dir(ulong id, out Node dir)
    {
        if (!_nodes.TryGetValue(id, out dir!)) return Errno.ENOENT;
        return dir.IsDir ? Errno.OK : Errno.ENOTDIR;
    }

    public ValueTask Lookup(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            var e = Dir(r.NodeId, out var dir);
            if (e != Errno.OK) { r.ReplyError(e); return default; }
            if (!dir.Children.TryGetValue(Str(name), out var id)) { r.ReplyError(Errno.ENOENT); return default; }
            r.ReplyEntry(Entry(_nodes[id]));
        }
        return default;
    }

    public void Forget(ReadOnlySpan<FuseForgetOne> forgets)
    {
        lock (_lock)
        {
            foreach (var f in forgets)
            {
                Forgets++;
                if (_nodes.TryGetValue(f.NodeId, out var n)) n.Lookups -= Math.Min(n.Lookups, f.NLookup);
            }
        }
    }

    public ValueTask GetAttr(FuseRequest r, FuseGetattrIn args)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(r.NodeId, out var n)) r.ReplyAttr(AttrOut(n));
            else r.ReplyError(Errno.ENOENT);
        }
        return default;
    }

    public ValueTask SetAttr(FuseRequest r, FuseSetattrIn a)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(r.NodeId, out var n)) { r.ReplyError(Errno.ENOENT); return default; }
            if ((a.Valid & FuseConst.FattrSize) != 0) Resize(n, (long)a.Size);
            if ((a.Valid & FuseConst.FattrMode) != 0) n.Mode = (n.Mode & S_IFMT) | (a.Mode & 0xFFF);
            if ((a.Valid & FuseConst.FattrUid) != 0) n.Uid = a.Uid;
            if ((a.Valid & FuseConst.FattrGid) != 0) n.Gid = a.Gid;
            if ((a.Valid & FuseConst.FattrMtime) != 0)
                n.Mtime = (a.Valid & FuseConst.FattrMtimeNow) != 0 ? DateTime.UtcNow : DateTime.UnixEpoch.AddSeconds(a.Mtime).AddTicks(a.MtimeNsec / 100);
            if ((a.Valid & FuseConst.FattrAtime) != 0)
                n.Atime = (a.Valid & FuseConst.FattrAtimeNow) != 0 ? DateTime.UtcNow : DateTime.UnixEpoch.AddSeconds(a.Atime).AddTicks(a.AtimeNsec / 100);
            n.Ctime = DateTime.UtcNow;
            r.ReplyAttr(AttrOut(n));
        }
        return default;
    }

    static void Resize(Node n, long size)
    {
        if (size > n.Data.Length) Array.Resize(ref n.Data, (int)Math.Max(size, Math.Min((long)n.Data.Length * 2, int.MaxValue)));
        if (size < n.Size) Array.Clear(n.Data, (int)size, (int)(n.Size - size));
        n.Size = size;
        n.Mtime = n.Ctime = DateTime.UtcNow;
    }

    Errno Add(FuseRequest r, ReadOnlyMemory<byte> name, uint mode, out Node node)
    {
        node = null!;
        var e = Dir(r.NodeId, out var dir);
        if (e != Errno.OK) return e;
        if (name.Length > 255) return Errno.ENAMETOOLONG;
        var s = Str(name);
        if (dir.Children.ContainsKey(s)) return Errno.EEXIST;
        node = new Node { Id = _nextId++, Mode = mode, Uid = r.Uid, Gid = r.Gid };
        if (node.IsDir) { node.Nlink = 2; dir.Nlink++; }
        _nodes[node.Id] = node;
        dir.Children[s] = node.Id;
        dir.Mtime = dir.Ctime = DateTime.UtcNow;
        LastCreateUid = r.Uid;
        LastCreateGroups = r.GetSupplementaryGroups();
        return Errno.OK;
    }

    public ValueTask Mkdir(FuseRequest r, FuseMkdirIn a, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            var e = Add(r, name, S_IFDIR | (a.Mode & 0xFFF), out var n);
            if (e == Errno.OK) r.ReplyEntry(Entry(n)); else r.ReplyError(e);
        }
        return default;
    }

    public ValueTask Mknod(FuseRequest r, FuseMknodIn a, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            var e = Add(r, name, a.Mode, out var n);
            if (e == Errno.OK) { n.Rdev = a.Rdev; r.ReplyEntry(Entry(n)); } else r.ReplyError(e);
        }
        return default;
    }

    public ValueTask Symlink(FuseRequest r, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> target)
    {
        lock (_lock)
        {
            var e = Add(r, name, S_IFLNK | 0x1FF, out var n);
            if (e == Errno.OK) { n.Target = Str(target); r.ReplyEntry(Entry(n)); } else r.ReplyError(e);
        }
        return default;
    }

    public ValueTask ReadLink(FuseRequest r)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(r.NodeId, out var n) && n.Target is not null) r.ReplyData(Encoding.UTF8.GetBytes(n.Target));
            else r.ReplyError(Errno.EINVAL);
        }
        return default;
    }

    public ValueTask Link(FuseRequest r, ulong oldNodeId, ReadOnlyMemory<byte> newName)
    {
        lock (_lock)
        {
            var e = Dir(r.NodeId, out var dir);
            if (e == Errno.OK && !_nodes.TryGetValue(oldNodeId, out _)) e = Errno.ENOENT;
            if (e == Errno.OK && dir.Children.ContainsKey(Str(newName))) e = Errno.EEXIST;
            if (e != Errno.OK) { r.ReplyError(e); return default; }
            var n = _nodes[oldNodeId];
            dir.Children[Str(newName)] = n.Id;
            n.Nlink++;
            n.Ctime = DateTime.UtcNow;
            r.ReplyEntry(Entry(n));
        }
        return default;
    }

    Errno Remove(FuseRequest r, ReadOnlyMemory<byte> name, bool dirWanted)
    {
        var e = Dir(r.NodeId, out var dir);
        if (e != Errno.OK) return e;
        var s = Str(name);
        if (!dir.Children.TryGetValue(s, out var id)) return Errno.ENOENT;
        var n = _nodes[id];
        if (dirWanted && !n.IsDir) return Errno.ENOTDIR;
        if (!dirWanted && n.IsDir) return Errno.EISDIR;
        if (n.IsDir && n.Children.Count > 0) return Errno.ENOTEMPTY;
        dir.Children.Remove(s);
        if (n.IsDir) { dir.Nlink--; n.Nlink = 0; } else n.Nlink--;
        n.Ctime = dir.Mtime = dir.Ctime = DateTime.UtcNow;
        // The node stays in _nodes: the kernel may still name it until it forgets it.
        return Errno.OK;
    }

    public ValueTask Unlink(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        lock (_lock) { var e = Remove(r, name, false); if (e == Errno.OK) r.ReplyOk(); else r.ReplyError(e); }
        return default;
    }

    public ValueTask Rmdir(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        lock (_lock) { var e = Remove(r, name, true); if (e == Errno.OK) r.ReplyOk(); else r.ReplyError(e); }
        return default;
    }

    public ValueTask Rename(FuseRequest r, ReadOnlyMemory<byte> oldName, ulong newDir, ReadOnlyMemory<byte> newName, uint flags)
    {
        lock (_lock)
        {
            var e = Dir(r.NodeId, out var from);
            if (e == Errno.OK) e = Dir(newDir, out _);
            if (e != Errno.OK) { r.ReplyError(e); return default; }
            var to = _nodes[newDir];
            string os = Str(oldName), ns = Str(newName);
            if (!from.Children.TryGetValue(os, out var id)) { r.ReplyError(Errno.ENOENT); return default; }
            bool exists = to.Children.TryGetValue(ns, out var victim);
            if ((flags & FuseConst.RenameNoReplace) != 0 && exists) { r.ReplyError(Errno.EEXIST); return default; }
            if ((flags & FuseConst.RenameExchange) != 0)
            {
                if (!exists) { r.ReplyError(Errno.ENOENT); return default; }
                from.Children[os] = victim;
                to.Children[ns] = id;
                r.ReplyOk();
                return default;
            }
            if (exists && victim != id)
            {
                var v = _nodes[victim];
                if (v.IsDir && v.Children.Count > 0) { r.ReplyError(Errno.ENOTEMPTY); return default; }
                v.Nlink = v.IsDir ? 0 : v.Nlink - 1;
            }
            from.Children.Remove(os);
            to.Children[ns] = id;
            from.Mtime = to.Mtime = _nodes[id].Ctime = DateTime.UtcNow;
            r.ReplyOk();
        }
        return default;
    }

    public async ValueTask Open(FuseRequest r, FuseOpenIn a)
    {
        bool block;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(r.NodeId, out var n)) { r.ReplyError(Errno.ENOENT); return; }
            block = n.Target is null && _nodes[1].Children.TryGetValue("block", out var b) && b == n.Id;
            if (!block && (a.Flags & 0x200) != 0) Resize(n, 0); // O_TRUNC arrives here (ATOMIC_O_TRUNC)
        }
        if (block)
        {
            // A wait that has changed nothing: INTERRUPT may end it, and then the answer is EINTR.
            BlockedOpen.TrySetResult();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), r.CancellationToken);
                BlockedOpenReplied.TrySetResult(r.ReplyError(Errno.ETIMEDOUT));
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref Interrupted);
                BlockedOpenReplied.TrySetResult(r.ReplyError(Errno.EINTR));
            }
            return;
        }
        r.ReplyOpen(new FuseOpenOut { Fh = r.NodeId });
    }

    public ValueTask Create(FuseRequest r, FuseCreateIn a, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            var e = Add(r, name, S_IFREG | (a.Mode & 0xFFF), out var n);
            if (e != Errno.OK) { r.ReplyError(e); return default; }
            r.ReplyCreate(Entry(n), new FuseOpenOut { Fh = n.Id });
        }
        return default;
    }

    public ValueTask Read(FuseRequest r, FuseReadIn a)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(a.Fh, out var n)) { r.ReplyError(Errno.EBADF); return default; }
            long off = (long)a.Offset;
            int count = (int)Math.Max(0, Math.Min(a.Size, n.Size - off));
            var dest = r.DataBuffer.Span;
            if (count > 0) n.Data.AsSpan((int)off, count).CopyTo(dest);
            r.ReplyDataBuffer(count);
        }
        return default;
    }

    public ValueTask Write(FuseRequest r, FuseWriteIn a, ReadOnlyMemory<byte> data)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(a.Fh, out var n)) { r.ReplyError(Errno.EBADF); return default; }
            long end = (long)a.Offset + data.Length;
            if (end > n.Size) Resize(n, end);
            data.Span.CopyTo(n.Data.AsSpan((int)a.Offset));
            n.Mtime = n.Ctime = DateTime.UtcNow;
            r.ReplyWrite((uint)data.Length);
        }
        return default;
    }

    public ValueTask StatFs(FuseRequest r)
    {
        r.ReplyStatFs(new FuseKstatfs { Blocks = 1 << 20, Bfree = 1 << 19, Bavail = 1 << 19, Files = 1000, Ffree = 500, Bsize = 4096, Frsize = 4096, NameLen = 255 });
        return default;
    }

    public ValueTask Release(FuseRequest r, FuseReleaseIn a) { r.ReplyOk(); return default; }
    public ValueTask Flush(FuseRequest r, FuseFlushIn a) { r.ReplyOk(); return default; }
    public ValueTask Fsync(FuseRequest r, FuseFsyncIn a) { r.ReplyOk(); return default; }

    public ValueTask OpenDir(FuseRequest r, FuseOpenIn a)
    {
        lock (_lock)
        {
            var e = Dir(r.NodeId, out var dir);
            if (e != Errno.OK) { r.ReplyError(e); return default; }
            // A snapshot per handle keeps every cookie valid across READDIR calls.
            var list = new List<(string, ulong)> { (".", dir.Id), ("..", 1) };
            foreach (var (k, v) in dir.Children) list.Add((k, v));
            ulong fh = _nextFh++;
            _dirHandles[fh] = list;
            r.ReplyOpen(new FuseOpenOut { Fh = fh });
        }
        return default;
    }

    public ValueTask ReadDir(FuseRequest r, FuseReadIn a) => List(r, a, false);
    public ValueTask ReadDirPlus(FuseRequest r, FuseReadIn a) => List(r, a, true);

    ValueTask List(FuseRequest r, FuseReadIn a, bool plus)
    {
        Interlocked.Increment(ref ReadDirCalls);
        lock (_lock)
        {
            if (!_dirHandles.TryGetValue(a.Fh, out var list)) { r.ReplyError(Errno.EBADF); return default; }
            var w = r.CreateDirentWriter(a.Size, plus);
            for (int i = (int)a.Offset; i < list.Count; i++)
            {
                var (name, id) = list[i];
                var bytes = Encoding.UTF8.GetBytes(name);
                if (!_nodes.TryGetValue(id, out var n)) continue;
                bool ok = plus
                    ? w.TryAddPlus(bytes, name is "." or ".." ? new FuseEntryOut { Attr = Attr(n) } : PeekEntry(n), (ulong)i + 1)
                    : w.TryAdd(bytes, id, DirentWriter.DirentType(n.Mode), (ulong)i + 1);
                if (!ok) break;
                if (plus && name is not ("." or "..")) n.Lookups++; // counted only once it is in the reply
            }
            r.ReplyDataBuffer(w.Length);
        }
        return default;
    }

    static FuseEntryOut PeekEntry(Node n) => new() { NodeId = n.Id, Generation = 1, Attr = Attr(n) };

    public ValueTask ReleaseDir(FuseRequest r, FuseReleaseIn a)
    {
        lock (_lock) _dirHandles.Remove(a.Fh);
        r.ReplyOk();
        return default;
    }

    public ValueTask SetXattr(FuseRequest r, FuseSetxattrIn a, ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(r.NodeId, out var n)) { r.ReplyError(Errno.ENOENT); return default; }
            n.Xattrs[Str(name)] = value.ToArray();
            r.ReplyOk();
        }
        return default;
    }

    public ValueTask GetXattr(FuseRequest r, uint size, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(r.NodeId, out var n) && n.Xattrs.TryGetValue(Str(name), out var v)) r.ReplyXattr(v);
            else r.ReplyError(Errno.ENODATA);
        }
        return default;
    }

    public ValueTask ListXattr(FuseRequest r, uint size)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(r.NodeId, out var n)) { r.ReplyError(Errno.ENOENT); return default; }
            var sb = new StringBuilder();
            foreach (var k in n.Xattrs.Keys) sb.Append(k).Append('\0');
            r.ReplyXattr(Encoding.UTF8.GetBytes(sb.ToString()));
        }
        return default;
    }

    public ValueTask RemoveXattr(FuseRequest r, ReadOnlyMemory<byte> name)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(r.NodeId, out var n) && n.Xattrs.Remove(Str(name))) r.ReplyOk();
            else r.ReplyError(Errno.ENODATA);
        }
        return default;
    }
}
