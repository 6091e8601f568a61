namespace Graft.Core;

/// <summary>
/// One graph's inodes: GFID → inode, (parent, name) → inode dentries, and the references that
/// keep an inode alive. An inode is *active* while it has refs (fds, calls in progress) or
/// lookup references (a front end's handle); otherwise it sits in an LRU list and is purged
/// (its translators' contexts dropped via forget) once the list is longer than
/// <see cref="LruLimit"/>. The root is never purged.
/// </summary>
/// <remarks>Lock order: <see cref="Sync"/> is a leaf lock; no callback runs while it is held.</remarks>
public sealed class InodeTable
{
    internal readonly object Sync = new();
    private readonly Dictionary<Gfid, Inode> _byGfid = new();
    private readonly Dictionary<(Gfid, string), Inode> _dentries = new();
    private readonly LinkedList<Inode> _lru = new();
    private int _fds;

    public InodeTable(int lruLimit = 16384, Graph? graph = null, int ctxSlots = 8)
    {
        if (lruLimit < 0) throw new ArgumentOutOfRangeException(nameof(lruLimit));
        LruLimit = lruLimit;
        Graph = graph;
        CtxSlots = ctxSlots;
        Root = new Inode(this, Gfid.Root, PosixMode.S_IFDIR);
        Root.Lookups = 1; // the root is referenced for the life of the table
        _byGfid.Add(Gfid.Root, Root);
    }

    public Graph? Graph { get; }
    public Inode Root { get; }
    public int LruLimit { get; }
    internal int CtxSlots { get; }

    /// <summary>Called (outside the table lock) for each inode purged from the LRU or forgotten.</summary>
    public event Action<Inode>? Purged;

    public int Count { get { lock (Sync) return _byGfid.Count; } }
    public int LruCount { get { lock (Sync) return _lru.Count; } }
    public int ActiveCount { get { lock (Sync) return _byGfid.Count - _lru.Count; } }
    public int FdCount => Volatile.Read(ref _fds);

    public Inode? Find(Gfid gfid)
    {
        lock (Sync) return _byGfid.TryGetValue(gfid, out var i) ? i : null;
    }

    /// <summary>The inode a name in a directory resolves to, if the table knows that dentry.</summary>
    public Inode? FindChild(Gfid parent, string name)
    {
        lock (Sync) return _dentries.TryGetValue((parent, name), out var i) ? i : null;
    }

    /// <summary>
    /// Records what a lookup/create found: returns the inode for <paramref name="iatt"/>'s GFID
    /// (creating it if new) and, when a parent and name are given, the dentry to it.
    /// The result holds one ref, which the caller must <see cref="Unref"/> (or turn into a
    /// lookup reference with <see cref="AddLookup"/> then unref).
    /// </summary>
    public Inode Link(Gfid parent, string? name, in Iatt iatt)
    {
        if (iatt.Gfid.IsZero) throw new ArgumentException("cannot link an inode without a GFID", nameof(iatt));
        List<Inode>? purged = null;
        Inode inode;
        lock (Sync)
        {
            if (!_byGfid.TryGetValue(iatt.Gfid, out inode!))
            {
                inode = new Inode(this, iatt.Gfid, iatt.Type);
                _byGfid.Add(iatt.Gfid, inode);
            }
            TakeRef(inode);
            if (name is not null && !parent.IsZero)
            {
                var key = (parent, name);
                if (_dentries.TryGetValue(key, out var old) && old != inode)
                    old.Dentries.Remove(key);
                _dentries[key] = inode;
                if (!inode.Dentries.Contains(key))
                {
                    // A directory has one name: a new dentry replaces the old one (rename seen late).
                    if (inode.IsDir) { foreach (var d in inode.Dentries) _dentries.Remove(d); inode.Dentries.Clear(); }
                    inode.Dentries.Add(key);
                }
            }
            purged = TrimLru();
        }
        RaisePurged(purged);
        return inode;
    }

    /// <summary>Forgets the dentry (parent, name), as after unlink or rmdir.</summary>
    public void Unlink(Gfid parent, string name)
    {
        lock (Sync)
        {
            if (_dentries.Remove((parent, name), out var inode))
                inode.Dentries.Remove((parent, name));
        }
    }

    /// <summary>Moves a dentry, as after rename. An inode at the destination loses that name.</summary>
    public void Rename(Gfid oldParent, string oldName, Gfid newParent, string newName)
    {
        lock (Sync)
        {
            if (_dentries.Remove((newParent, newName), out var victim)) victim.Dentries.Remove((newParent, newName));
            if (_dentries.Remove((oldParent, oldName), out var inode))
            {
                inode.Dentries.Remove((oldParent, oldName));
                _dentries[(newParent, newName)] = inode;
                inode.Dentries.Add((newParent, newName));
            }
        }
    }

    /// <summary>Swaps two dentries, as after RENAME_EXCHANGE.</summary>
    public void Exchange(Gfid parentA, string nameA, Gfid parentB, string nameB)
    {
        lock (Sync)
        {
            _dentries.Remove((parentA, nameA), out var a);
            _dentries.Remove((parentB, nameB), out var b);
            a?.Dentries.Remove((parentA, nameA));
            b?.Dentries.Remove((parentB, nameB));
            if (a is not null) { _dentries[(parentB, nameB)] = a; a.Dentries.Add((parentB, nameB)); }
            if (b is not null) { _dentries[(parentA, nameA)] = b; b.Dentries.Add((parentA, nameA)); }
        }
    }

    public void Ref(Inode inode)
    {
        CheckOwner(inode);
        lock (Sync) TakeRef(inode);
    }

    public void Unref(Inode inode)
    {
        CheckOwner(inode);
        List<Inode>? purged;
        lock (Sync)
        {
            if (inode.Refs <= 0) throw new InvalidOperationException($"unref of {inode} without a ref");
            inode.Refs--;
            MaybeRetire(inode);
            purged = TrimLru();
        }
        RaisePurged(purged);
    }

    /// <summary>Adds <paramref name="n"/> lookup references (the kernel's nlookup, a library handle).</summary>
    public void AddLookup(Inode inode, ulong n = 1)
    {
        CheckOwner(inode);
        lock (Sync)
        {
            if (inode.Purged) throw new InvalidOperationException($"{inode} was purged");
            inode.Lookups += n;
            if (inode.LruNode is not null) { _lru.Remove(inode.LruNode); inode.LruNode = null; }
        }
    }

    /// <summary>Drops <paramref name="n"/> lookup references (FORGET). Returns the references left.</summary>
    public ulong Forget(Inode inode, ulong n)
    {
        CheckOwner(inode);
        if (inode.IsRoot) return inode.Lookups;
        List<Inode>? purged;
        ulong left;
        lock (Sync)
        {
            inode.Lookups = n >= inode.Lookups ? 0 : inode.Lookups - n;
            left = inode.Lookups;
            MaybeRetire(inode);
            purged = TrimLru();
        }
        RaisePurged(purged);
        return left;
    }

    internal void OnFdCreated(Fd fd) { Ref(fd.Inode); Interlocked.Increment(ref _fds); }

    internal void OnFdDestroyed(Fd fd) { Interlocked.Decrement(ref _fds); Unref(fd.Inode); }

    /// <summary>Drops every inode (graph teardown). Raises <see cref="Purged"/> for each.</summary>
    public void Clear()
    {
        List<Inode> all;
        lock (Sync)
        {
            all = [.. _byGfid.Values];
            _byGfid.Clear(); _dentries.Clear(); _lru.Clear();
            foreach (var i in all) { i.Purged = true; i.LruNode = null; i.Dentries.Clear(); }
        }
        RaisePurged(all);
    }

    private void TakeRef(Inode inode)
    {
        if (inode.Purged) throw new InvalidOperationException($"{inode} was purged");
        inode.Refs++;
        if (inode.LruNode is not null) { _lru.Remove(inode.LruNode); inode.LruNode = null; }
    }

    private void MaybeRetire(Inode inode)
    {
        if (inode.Refs == 0 && inode.Lookups == 0 && !inode.IsRoot && inode.LruNode is null && !inode.Purged)
            inode.LruNode = _lru.AddLast(inode);
    }

    private List<Inode>? TrimLru()
    {
        List<Inode>? purged = null;
        while (_lru.Count > LruLimit)
        {
            var victim = _lru.First!.Value;
            _lru.RemoveFirst();
            victim.LruNode = null;
            victim.Purged = true;
            _byGfid.Remove(victim.Gfid);
            foreach (var d in victim.Dentries) _dentries.Remove(d);
            victim.Dentries.Clear();
            (purged ??= []).Add(victim);
        }
        return purged;
    }

    private void RaisePurged(List<Inode>? purged)
    {
        if (purged is null) return;
        foreach (var i in purged) Purged?.Invoke(i);
    }

    private void CheckOwner(Inode inode)
    {
        if (inode.Table != this) throw new InvalidOperationException($"{inode} belongs to another table");
    }
}
