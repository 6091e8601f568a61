using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>An open directory fd shared through <see cref="DirFdCache"/>; closed when evicted and unused.</summary>
internal sealed class DirHandle
{
    public readonly Gfid Gfid;
    public readonly int Fd;
    // Guarded by the cache lock.
    internal int Refs;
    internal bool InCache;
    internal LinkedListNode<DirHandle>? Node;

    public DirHandle(Gfid gfid, int fd) { Gfid = gfid; Fd = fd; }
}

/// <summary>
/// A bounded LRU of directory fds keyed by GFID. A directory fd follows its directory across
/// renames, so an entry stays right until the directory is removed. Users hold a reference
/// while they use the fd, so eviction never closes an fd another thread is passing to the kernel
/// (which could otherwise be reused by an unrelated open). The cache gives way to open files:
/// when the process nears RLIMIT_NOFILE (<see cref="FdBudget"/>) idle entries are shed.
/// </summary>
/// <remarks>Lock order: the cache lock is a leaf; no syscall but close runs under it.</remarks>
internal sealed class DirFdCache : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<Gfid, DirHandle> _map = new();
    private readonly LinkedList<DirHandle> _lru = new();
    private readonly int _capacity;
    private readonly DirHandle _root;

    public DirFdCache(int capacity, int rootFd)
    {
        _capacity = capacity;
        // The root is pinned: never evicted, never closed here (the translator owns its fd).
        _root = new DirHandle(Gfid.Root, rootFd) { Refs = 1 };
        FdBudget.Register(this);
    }

    public int Capacity => _capacity;

    public int Count { get { lock (_lock) return _map.Count; } }

    public DirHandle? TryGet(Gfid gfid)
    {
        if (gfid.IsRoot) return _root;
        lock (_lock)
        {
            if (!_map.TryGetValue(gfid, out var h)) return null;
            h.Refs++;
            _lru.Remove(h.Node!);
            _lru.AddFirst(h.Node!);
            return h;
        }
    }

    public bool Contains(Gfid gfid)
    {
        if (gfid.IsRoot) return true;
        lock (_lock) return _map.ContainsKey(gfid);
    }

    /// <summary>Adds a freshly opened fd (the cache owns it now) and returns a referenced handle for it.</summary>
    public DirHandle Add(Gfid gfid, int fd)
    {
        List<int>? evicted = null;
        DirHandle result;
        bool duplicate = false;
        lock (_lock)
        {
            if (_map.TryGetValue(gfid, out var existing))
            {
                // Another thread opened it first; keep theirs.
                existing.Refs++;
                duplicate = true;
                result = existing;
            }
            else
            {
                result = new DirHandle(gfid, fd) { Refs = 1, InCache = true };
                result.Node = _lru.AddFirst(result);
                _map.Add(gfid, result);
                FdBudget.CacheTook();
                while (_map.Count > _capacity)
                {
                    var victim = _lru.Last!.Value;
                    RemoveLocked(victim);
                    if (victim.Refs == 0) (evicted ??= []).Add(victim.Fd);
                }
            }
        }
        if (duplicate) Libc.close(fd);
        if (evicted is not null) CloseCached(evicted);
        // Near the descriptor limit, open files need the room more than this cache does.
        if (FdBudget.UnderPressure) FdBudget.ShedAll(toFree: 64);
        return result;
    }

    private static void CloseCached(List<int> fds)
    {
        foreach (var f in fds) Libc.close(f);
        FdBudget.CacheClosed(fds.Count);
    }

    /// <summary>
    /// Closes up to <paramref name="max"/> idle entries, least recently used first (entries in use
    /// stay: their users hold the fd). Returns how many fds were closed.
    /// </summary>
    public int ShedIdle(int max)
    {
        List<int>? toClose = null;
        lock (_lock)
        {
            for (var node = _lru.Last; node is not null && (toClose?.Count ?? 0) < max;)
            {
                var prev = node.Previous;
                var h = node.Value;
                if (h.Refs == 0)
                {
                    RemoveLocked(h);
                    (toClose ??= []).Add(h.Fd);
                }
                node = prev;
            }
        }
        if (toClose is null) return 0;
        CloseCached(toClose);
        return toClose.Count;
    }

    public void Release(DirHandle h)
    {
        if (ReferenceEquals(h, _root)) return;
        bool close;
        lock (_lock) close = --h.Refs == 0 && !h.InCache;
        if (close) CloseCached([h.Fd]);
    }

    /// <summary>The directory is gone (rmdir, replaced by rename): forget its fd.</summary>
    public void Evict(Gfid gfid)
    {
        bool close = false;
        DirHandle? h;
        lock (_lock)
        {
            if (_map.TryGetValue(gfid, out h))
            {
                RemoveLocked(h);
                close = h.Refs == 0;
            }
        }
        if (close) CloseCached([h!.Fd]);
    }

    private void RemoveLocked(DirHandle h)
    {
        _map.Remove(h.Gfid);
        _lru.Remove(h.Node!);
        h.Node = null;
        h.InCache = false;
    }

    public void Dispose()
    {
        FdBudget.Unregister(this);
        List<DirHandle> all;
        lock (_lock)
        {
            all = [.. _map.Values];
            foreach (var h in all) RemoveLocked(h);
        }
        CloseCached([.. all.Where(h => h.Refs == 0).Select(h => h.Fd)]);
    }
}
