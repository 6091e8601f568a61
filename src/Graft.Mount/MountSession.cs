using System.Runtime.CompilerServices;
using Graft.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Mount;

/// <summary>A node and the attributes an entry fop (lookup, mkdir, create, ...) returned for it.</summary>
public readonly record struct NodeEntry(MountNode Node, Iatt Attr);

/// <summary>What create returns: the new node (with one lookup), its attributes and the open file. <see cref="New"/>:
/// the file was made by this call (false: the name existed, no O_EXCL, and that file was opened instead).</summary>
public readonly record struct CreatedFile(MountNode Node, Iatt Attr, MountFile File, bool New = true);

/// <summary>
/// The mount session: owns the active graph and the mount-level objects (nodes and open files)
/// that front ends name, and turns front-end requests into fops on the active graph. Both front
/// ends (FUSE bridge, library) go through it and depend on nothing else.
/// </summary>
/// <remarks>
/// Every fop follows one pattern (DESIGN invariant 3): count itself in flight on the graph it
/// will use (<see cref="Enter"/>), resolve each handle's hint to that graph (a hit costs no lock
/// and no allocation), wind the fop at the graph's top, keep that graph's inode table in step,
/// and leave (<see cref="Graph.ExitFop"/>) in a finally. A later graph switch only has to publish
/// a new <see cref="ActiveGraph"/> and fill in the miss paths.
///
/// Lock order: <see cref="_nodesSync"/> → InodeTable.Sync (leaf). No fop is wound under a lock.
/// </remarks>
public sealed partial class MountSession : IAsyncDisposable
{
    private Graph _active;
    private readonly object _nodesSync = new();
    private readonly Dictionary<Gfid, MountNode> _nodes = new();
    private readonly HandleTable<MountNode> _nodeIds = new(reservedSlots: 2);
    private readonly HandleTable<MountFile> _files = new(reservedSlots: 1);
    private readonly ILogger _log;
    private int _disposed;

    /// <summary>FUSE's FUSE_ROOT_ID: the root node's id, fixed for the life of the mount.</summary>
    public const ulong RootId = 1;

    /// <param name="graph">An initialised graph whose children are up (or coming up); it becomes the active graph.</param>
    public MountSession(Graph graph, MountOptions? options = null, ILoggerFactory? loggers = null)
    {
        Options = options ?? new MountOptions();
        // The graph's clients already presented its identity to the bricks: the session's locks must carry the same.
        if (graph.MountId != Options.MountId)
            throw new ArgumentException($"graph {graph.Generation} serves mount {graph.MountId}, the session is mount {Options.MountId}", nameof(graph));
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Graft.Mount");
        graph.State = GraphState.Active;
        _active = graph;
        _graphs.Add(graph);
        Watch(graph);
        _generation = graph.Generation;
        _loggers = loggers;
        Root = new MountNode(Gfid.Root, PosixMode.S_IFDIR, graph.Inodes.Root) { Lookups = 1 };
        _nodes.Add(Gfid.Root, Root);
        _nodeIds.AddAt((uint)RootId, Root);
        Metrics = new MountMetrics(this);
    }

    public MountOptions Options { get; }

    /// <summary>The graph new requests go to.</summary>
    public Graph ActiveGraph => Volatile.Read(ref _active);

    /// <summary>The root directory (id <see cref="RootId"/>); never forgotten.</summary>
    public MountNode Root { get; }

    /// <summary>The node a front end names by id, or null if the id is unknown or stale (→ ESTALE).</summary>
    public MountNode? GetNode(ulong id) => _nodeIds.Get(id);

    /// <summary>The open file a front end names by id, or null if unknown, stale or released (→ EBADF).</summary>
    public MountFile? GetFile(ulong id) => _files.Get(id);

    public int NodeCount => _nodeIds.Count;
    public int OpenFileCount => _files.Count;

    // ---- entering a graph and resolving hints ----

    /// <summary>
    /// Counts the caller in flight on the active graph and returns it. The count is taken before
    /// the re-check, so a graph that is still active after it cannot be retired under the fop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Graph Enter(FopContext ctx)
    {
        while (true)
        {
            var g = Volatile.Read(ref _active);
            g.EnterFop();
            if (ReferenceEquals(g, Volatile.Read(ref _active)) && g.State == GraphState.Active)
            {
                ctx.Graph = g;
                ctx.MountId = Options.MountId;
                return g;
            }
            g.ExitFop();
            if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(MountSession));
        }
    }

    /// <summary>The node's inode on <paramref name="g"/>: the hint on a hit, a nameless lookup on a miss.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ValueTask<Result<Inode>> ResolveAsync(FopContext ctx, MountNode node, Graph g)
    {
        var inode = node.Inode;
        if (ReferenceEquals(inode.Table.Graph, g)) return new(new Result<Inode>(inode));
        return ResolveMissAsync(ctx, node, g);
    }

    /// <summary>
    /// The file's fd on <paramref name="g"/>, with a reference the caller drops through
    /// <see cref="PutFdAsync"/>. The reference keeps the fd alive if a migration replaces it
    /// while this fop still runs on it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ValueTask<Result<Fd>> ResolveFdAsync(MountFile file, Graph g)
    {
        var fd = file.Fd;
        if (ReferenceEquals(fd.Inode.Table.Graph, g) && fd.TryRef()) return new(new Result<Fd>(fd));
        return ResolveFdMissAsync(file, g);
    }

    /// <summary>Drops a reference taken by <see cref="ResolveFdAsync"/>; the last one sends release on the fd's own graph.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ValueTask PutFdAsync(Fd fd) => fd.Unref() ? ReleaseFdAsync(fd) : default;

    private async ValueTask ReleaseFdAsync(Fd fd)
    {
        var g = fd.Graph!;
        // A graph torn down by force has closed everything already; a release now could only
        // hit a translator that is gone.
        if (g.State == GraphState.Destroyed) return;
        g.EnterFop();
        try
        {
            if (fd.IsDirectory) await g.Top.ReleasedirAsync(fd).ConfigureAwait(false);
            else await g.Top.ReleaseAsync(fd).ConfigureAwait(false);
            Interlocked.Increment(ref _counters.FdsReleased);
        }
        catch (Exception e) { LogReleaseFailed(_log, e, fd.Inode.Gfid, g.Generation); }
        finally { g.ExitFop(); }
    }

    private async ValueTask<Result<Inode>> ResolveMissAsync(FopContext ctx, MountNode node, Graph g)
    {
        // Nameless lookup by GFID on the active graph (DESIGN invariant 5); the result is cached
        // on the node, so one miss per node per graph.
        Interlocked.Increment(ref _counters.InodeMisses);
        await SettleOlderAsync(node.Gfid, g).ConfigureAwait(false);
        var r = await g.Top.LookupAsync(ctx, Loc.Nameless(node.Gfid)).ConfigureAwait(false);
        if (!r.Ok) return r.Error;
        var inode = g.Inodes.Link(default, null, r.Value);
        try
        {
            // Forward only: a fop that started on an older graph uses that graph's own inode for
            // itself, but never moves the node back to it.
            var adopted = AdoptInode(node, inode);
            return ReferenceEquals(adopted.Table.Graph, g) ? adopted : inode;
        }
        finally { g.Inodes.Unref(inode); }
    }

    /// <summary>
    /// Moves the node's hint (and its one lookup reference) to <paramref name="inode"/> if that
    /// is on a newer graph than the hint; returns the inode the node points to afterwards.
    /// </summary>
    private Inode AdoptInode(MountNode node, Inode inode)
    {
        Inode old;
        lock (_nodesSync)
        {
            old = node.Inode;
            if (ReferenceEquals(old, inode)) return inode;
            if ((old.Graph?.Generation ?? 0) >= (inode.Graph?.Generation ?? 0)) return old;
            inode.Table.AddLookup(inode);
            node.CompareExchangeInode(inode, old);
        }
        if (!node.IsRoot) ForgetInode(old, 1);
        return inode;
    }

    private void ForgetInode(Inode inode, ulong n)
    {
        // Forget can purge inodes, which calls the graph's translators: count that as in flight.
        var g = inode.Graph;
        g?.EnterFop();
        try { inode.Table.Forget(inode, n); }
        finally { g?.ExitFop(); }
    }

    // ---- nodes ----

    /// <summary>
    /// A graph answered an entry fop without a GFID: a brick bug, never something to link
    /// (every mount-level object is keyed by GFID). Fail the call with EIO and say so once per call.
    /// </summary>
    private Errno NoGfid(Graph g, in Iatt iatt)
    {
        LogNoGfid(_log, g.Generation, iatt.Mode);
        return Errno.EIO;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "graph {Generation} returned an entry without a GFID (mode {Mode}); failing the call with EIO")]
    private static partial void LogNoGfid(ILogger log, long generation, uint mode);

    /// <summary>
    /// Records an entry fop's result: links the inode (and the dentry when a name is given) in
    /// <paramref name="g"/>'s table and returns the node for its GFID with one more lookup.
    /// </summary>
    private MountNode LinkNode(Graph g, Gfid parent, string? name, in Iatt iatt)
    {
        var inode = g.Inodes.Link(parent, name, iatt);
        Inode? replaced = null;
        MountNode? node;
        try
        {
            lock (_nodesSync)
            {
                if (_nodes.TryGetValue(iatt.Gfid, out node))
                {
                    node.Lookups++;
                    var old = node.Inode;
                    if (!ReferenceEquals(old, inode) && (old.Graph?.Generation ?? 0) < g.Generation)
                    {
                        g.Inodes.AddLookup(inode);
                        node.CompareExchangeInode(inode, old);
                        replaced = node.IsRoot ? null : old;
                    }
                }
                else
                {
                    node = new MountNode(iatt.Gfid, iatt.Type, inode) { Lookups = 1 };
                    g.Inodes.AddLookup(inode); // inside the lock: a racing forget of this node must see it
                    _nodes.Add(iatt.Gfid, node);
                    _nodeIds.Add(node);
                    Interlocked.Increment(ref _counters.NodesCreated);
                }
            }
        }
        finally { g.Inodes.Unref(inode); }
        if (replaced is not null) ForgetInode(replaced, 1);
        return node;
    }

    /// <summary>
    /// FORGET: drops <paramref name="n"/> of the front end's lookups. At zero the node leaves the
    /// id table (its id becomes stale) and its inode loses the node's lookup reference.
    /// </summary>
    public void Forget(MountNode node, ulong n)
    {
        if (node.IsRoot || n == 0) return;
        Inode? drop = null;
        lock (_nodesSync)
        {
            if (node.Lookups == 0) return;
            node.Lookups = n >= node.Lookups ? 0 : node.Lookups - n;
            if (node.Lookups == 0)
            {
                if (_nodes.TryGetValue(node.Gfid, out var cur) && ReferenceEquals(cur, node)) _nodes.Remove(node.Gfid);
                _nodeIds.Remove(node);
                drop = node.Inode;
                Interlocked.Increment(ref _counters.NodesForgotten);
            }
        }
        if (drop is not null) ForgetInode(drop, 1);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var f in _files.Snapshot()) await ReleaseAsync(f).ConfigureAwait(false);
        DropPending();
        // Every graph still held (the active one and any old one mid-retirement) drains: fops in
        // flight, then PARENT_DOWN, both bounded (DESIGN invariant 6), then destroy.
        await Task.WhenAll(Graphs.Select(DrainAndDestroyAsync)).ConfigureAwait(false);
        _switchLock.Dispose();
        Metrics.Dispose();
    }

    private async Task DrainAndDestroyAsync(Graph g)
    {
        if (g.State == GraphState.Destroyed) return;
        g.State = GraphState.Draining;
        var deadline = DateTime.UtcNow + Options.DrainTimeout;
        while (g.FopsInFlight > 0 && DateTime.UtcNow < deadline) await Task.Delay(5).ConfigureAwait(false);
        g.SendParentDown();
        try { await g.ParentDownHandled.WaitAsync(Options.DrainTimeout).ConfigureAwait(false); }
        catch (TimeoutException) { LogDrainTimeout(_log, g.Generation, Options.DrainTimeout); }
        await g.DestroyAsync().ConfigureAwait(false);
        lock (_graphs) _graphs.Remove(g);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "release of {Gfid} on graph {Generation} failed")]
    private static partial void LogReleaseFailed(ILogger log, Exception e, Gfid gfid, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "graph {Generation}: PARENT_DOWN not handled within {Timeout}; destroying anyway")]
    private static partial void LogDrainTimeout(ILogger log, long generation, TimeSpan timeout);
}
