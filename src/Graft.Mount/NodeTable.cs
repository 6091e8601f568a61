using System.Runtime.CompilerServices;
using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// The mount's nodes — one per GFID the front end holds, each with its id — and how a node finds
/// its inode on the graph a fop entered (DESIGN invariant 5): the hint on a hit (no lock, no
/// allocation); on a miss, a nameless lookup by GFID whose inode the node adopts, moving its hint
/// and its one lookup reference forward, never back. The inode miss path of the session, as
/// <see cref="FileMigrator"/> is its fd miss path.
/// </summary>
/// <remarks>Lock order: this table's lock → InodeTable.Sync, GraphSet (leaves). No fop is wound under it.</remarks>
internal sealed class NodeTable
{
    private readonly object _sync = new();
    private readonly Dictionary<Gfid, MountNode> _byGfid = new();
    private readonly HandleTable<MountNode> _ids = new(reservedSlots: 2);
    private readonly GraphSet _graphs;
    private readonly SessionCounters _counters;

    /// <param name="root">The root node, pointing into the first graph; it takes id <paramref name="rootId"/> for the life of the mount.</param>
    public NodeTable(GraphSet graphs, SessionCounters counters, MountNode root, ulong rootId)
    {
        _graphs = graphs;
        _counters = counters;
        _graphs.AddHint(root.HintGraph!, root);
        _byGfid.Add(root.Gfid, root);
        _ids.AddAt((uint)rootId, root);
    }

    /// <summary>The node a front end names by id, or null if the id is unknown or stale.</summary>
    public MountNode? Get(ulong id) => _ids.Get(id);

    public int Count => _ids.Count;

    /// <summary>The node the front end holds for <paramref name="gfid"/>, or null.</summary>
    public MountNode? Find(Gfid gfid)
    {
        lock (_sync) return _byGfid.GetValueOrDefault(gfid);
    }

    /// <summary>The node's inode on <paramref name="g"/>: the hint on a hit, a nameless lookup on a miss.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask<Result<Inode>> ResolveAsync(FopContext ctx, MountNode node, Graph g)
    {
        var inode = node.Inode;
        if (ReferenceEquals(inode.Table.Graph, g)) return new(new Result<Inode>(inode));
        return ResolveMissAsync(ctx, node, g);
    }

    private async ValueTask<Result<Inode>> ResolveMissAsync(FopContext ctx, MountNode node, Graph g)
    {
        // Nameless lookup by GFID on the active graph; the result is cached on the node, so one
        // miss per node per graph. An older graph may still hold acknowledged writes to it: those land first.
        Interlocked.Increment(ref _counters.InodeMisses);
        await _graphs.SettleOlderAsync(node.Gfid, g).ConfigureAwait(false);
        var r = await g.Top.LookupAsync(ctx, Loc.Nameless(node.Gfid)).ConfigureAwait(false);
        if (!r.Ok) return r.Error;
        var inode = g.Inodes.Link(default, null, r.Value);
        try
        {
            // Forward only: a fop that started on an older graph uses that graph's own inode for
            // itself, but never moves the node back to it.
            var adopted = Adopt(node, inode);
            return ReferenceEquals(adopted.Table.Graph, g) ? adopted : inode;
        }
        finally { g.Inodes.Unref(inode); }
    }

    /// <summary>
    /// Moves the node's hint (and its one lookup reference) to <paramref name="inode"/> if that
    /// is on a newer graph than the hint; returns the inode the node points to afterwards. A node
    /// the front end has forgotten stays where it is: nothing would move it again.
    /// </summary>
    internal Inode Adopt(MountNode node, Inode inode)
    {
        Inode old;
        Graph? left;
        lock (_sync)
        {
            old = node.Inode;
            if (ReferenceEquals(old, inode)) return inode;
            if ((old.Graph?.Generation ?? 0) >= (inode.Graph?.Generation ?? 0)) return old;
            if (node.Lookups == 0) return inode;
            inode.Table.AddLookup(inode);
            node.CompareExchangeInode(inode, old);
            left = MoveHint(node, inode.Graph!);
        }
        if (!node.IsRoot) ForgetInode(old, 1);
        if (left is not null) GraphSet.DropHint(left);
        return inode;
    }

    /// <summary>
    /// Records an entry fop's result: links the inode (and the dentry when a name is given) in
    /// <paramref name="g"/>'s table and returns the node for its GFID with one more lookup.
    /// </summary>
    public MountNode Link(Graph g, Gfid parent, string? name, in Iatt iatt)
    {
        var inode = g.Inodes.Link(parent, name, iatt);
        Inode? replaced = null;
        Graph? left = null;
        MountNode? node;
        try
        {
            lock (_sync)
            {
                if (_byGfid.TryGetValue(iatt.Gfid, out node))
                {
                    node.Lookups++;
                    var old = node.Inode;
                    if (!ReferenceEquals(old, inode) && (old.Graph?.Generation ?? 0) < g.Generation)
                    {
                        g.Inodes.AddLookup(inode);
                        node.CompareExchangeInode(inode, old);
                        replaced = node.IsRoot ? null : old;
                        left = MoveHint(node, g);
                    }
                }
                else
                {
                    node = new MountNode(iatt.Gfid, iatt.Type, inode) { Lookups = 1 };
                    g.Inodes.AddLookup(inode); // inside the lock: a racing forget of this node must see it
                    _byGfid.Add(iatt.Gfid, node);
                    _ids.Add(node);
                    MoveHint(node, g);
                    Interlocked.Increment(ref _counters.NodesCreated);
                }
            }
        }
        finally { g.Inodes.Unref(inode); }
        if (replaced is not null) ForgetInode(replaced, 1);
        if (left is not null) GraphSet.DropHint(left);
        return node;
    }

    /// <summary>Points the node's hint at <paramref name="g"/>; returns the graph whose hint the caller drops after its cleanup there. Under <see cref="_sync"/>.</summary>
    private Graph? MoveHint(MountNode node, Graph g)
    {
        var left = node.HintGraph;
        node.HintGraph = g;
        _graphs.AddHint(g, node);
        return left;
    }

    /// <summary>
    /// FORGET: drops <paramref name="n"/> of the front end's lookups. At zero the node leaves the
    /// id table (its id becomes stale) and its inode loses the node's lookup reference.
    /// </summary>
    public void Forget(MountNode node, ulong n)
    {
        if (node.IsRoot || n == 0) return;
        Inode? drop = null;
        Graph? left = null;
        lock (_sync)
        {
            if (node.Lookups == 0) return;
            node.Lookups = n >= node.Lookups ? 0 : node.Lookups - n;
            if (node.Lookups == 0)
            {
                if (_byGfid.TryGetValue(node.Gfid, out var cur) && ReferenceEquals(cur, node)) _byGfid.Remove(node.Gfid);
                _ids.Remove(node);
                drop = node.Inode;
                left = node.HintGraph;
                node.HintGraph = null;
                Interlocked.Increment(ref _counters.NodesForgotten);
            }
        }
        if (drop is not null) ForgetInode(drop, 1);
        if (left is not null) GraphSet.DropHint(left);
    }

    /// <summary>The node's object is gone from the volume: it can never move, so it no longer holds the graph it points into (its next use fails).</summary>
    public void Detach(MountNode node, Graph from)
    {
        lock (_sync)
        {
            if (!ReferenceEquals(node.HintGraph, from)) return;
            node.HintGraph = null;
        }
        GraphSet.DropHint(from);
    }

    /// <summary>Unmount: the front end will name no node again, so none holds its graph any more.</summary>
    public void DetachAll()
    {
        var left = new List<Graph>();
        lock (_sync)
        {
            foreach (var n in _byGfid.Values)
            {
                if (n.HintGraph is { } g) left.Add(g);
                n.HintGraph = null;
            }
        }
        foreach (var g in left) GraphSet.DropHint(g);
    }

    /// <summary>Adds the nodes whose hint points into <paramref name="g"/> to <paramref name="into"/>.</summary>
    public void AddHoldersOf(Graph g, List<IHandle> into)
    {
        lock (_sync)
        {
            foreach (var n in _byGfid.Values)
                if (ReferenceEquals(n.HintGraph, g)) into.Add(n);
        }
    }

    private static void ForgetInode(Inode inode, ulong n)
    {
        // Forget can purge inodes, which calls the graph's translators: count that as in flight.
        var g = inode.Graph;
        if (g is null) { inode.Table.Forget(inode, n); return; }
        using var lease = GraphSet.Hold(g);
        inode.Table.Forget(inode, n);
    }
}
