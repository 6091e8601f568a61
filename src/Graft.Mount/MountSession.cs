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
/// Every fop follows one pattern (DESIGN invariant 3): take a lease on the graph it will use
/// (<see cref="Enter"/>), resolve each handle's hint to that graph (a hit costs no lock and no
/// allocation), wind the fop at the graph's top, keep that graph's inode table in step, and
/// dispose the lease in a finally. The graphs themselves, and their states, are the
/// <see cref="GraphSet"/>'s; a node or open file holds a hint on the graph its inode or fd is on
/// (<see cref="MountNode.HintGraph"/>, <see cref="MountFile.HintGraph"/>), moved with the hint.
///
/// Lock order: the node table's lock → InodeTable.Sync, GraphSet (leaves). No fop is wound under a lock.
/// </remarks>
public sealed partial class MountSession : IAsyncDisposable
{
    /// <summary>GFIDs of what this mount makes, in runs that share a brick's handle directory (<see cref="GfidRuns"/>).</summary>
    private readonly GfidRuns _newGfids = new();

    private readonly GraphSet _graphs;
    private readonly FileMigrator _migrator;
    private readonly LockKeeper _locks;
    private readonly NodeTable _nodes;
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
        _graphs = new GraphSet(graph);
        _migrator = new FileMigrator(this, _graphs, _counters, _log, Options.MountId);
        _locks = new LockKeeper(this, _graphs, _migrator, _counters, _log, Options);
        _locks.Watch(graph);
        WatchUpcalls(graph);
        _loggers = loggers;
        Root = new MountNode(Gfid.Root, PosixMode.S_IFDIR, graph.Inodes.Root) { Lookups = 1, HintGraph = graph };
        _nodes = new NodeTable(_graphs, _counters, Root, RootId);
        Metrics = new MountMetrics(this);
    }

    public MountOptions Options { get; }

    /// <summary>The room that moves open files between graphs (for its own tests).</summary>
    internal FileMigrator Migrator => _migrator;

    /// <summary>The room that holds the nodes and resolves them on a graph (for its own tests).</summary>
    internal NodeTable Nodes => _nodes;

    /// <summary>The room that remembers the mount's locks and takes them back after a brick restart (for its own tests).</summary>
    internal LockKeeper Locks => _locks;

    /// <summary>An open file of <paramref name="node"/> that is not released, or null.</summary>
    internal MountFile? OpenFileOf(MountNode node)
    {
        foreach (var f in _files.Snapshot())
            if (ReferenceEquals(f.Node, node) && !f.Released) return f;
        return null;
    }

    /// <summary>The graph new requests go to.</summary>
    public Graph ActiveGraph => _graphs.Active;

    /// <summary>The root directory (id <see cref="RootId"/>); never forgotten.</summary>
    public MountNode Root { get; }

    /// <summary>The node a front end names by id, or null if the id is unknown or stale (→ ESTALE).</summary>
    public MountNode? GetNode(ulong id) => _nodes.Get(id);

    /// <summary>The open file a front end names by id, or null if unknown, stale or released (→ EBADF).</summary>
    public MountFile? GetFile(ulong id) => _files.Get(id);

    public int NodeCount => _nodes.Count;
    public int OpenFileCount => _files.Count;

    // ---- entering a graph and resolving hints ----

    /// <summary>A lease on the active graph (see <see cref="GraphSet.Enter"/>), recorded in <paramref name="ctx"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private GraphLease Enter(FopContext ctx)
    {
        var lease = _graphs.Enter();
        ctx.Graph = lease.Graph;
        ctx.MountId = Options.MountId;
        return lease;
    }

    /// <summary>The node's inode on <paramref name="g"/> (see <see cref="NodeTable.ResolveAsync"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ValueTask<Result<Inode>> ResolveAsync(FopContext ctx, MountNode node, Graph g) => _nodes.ResolveAsync(ctx, node, g);

    /// <summary>
    /// Enters the active graph and resolves the file's fd on it, with a reference the caller drops
    /// through <see cref="PutFdAsync"/>. A hit takes no lock and allocates nothing; a miss moves the
    /// file (<see cref="FileMigrator"/>). The caller disposes the lease.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ValueTask<(GraphLease Lease, Result<Fd> Fd)> EnterFileAsync(FopContext ctx, MountFile file)
    {
        var lease = Enter(ctx);
        var fd = file.Fd;
        if (ReferenceEquals(fd.Inode.Table.Graph, lease.Graph) && file.Failure == Errno.OK && fd.TryRef()) return new((lease, new Result<Fd>(fd)));
        return EnterFileSlowAsync(ctx, file, lease);
    }

    private async ValueTask<(GraphLease Lease, Result<Fd> Fd)> EnterFileSlowAsync(FopContext ctx, MountFile file, GraphLease lease)
    {
        while (true)
        {
            if (file.Failure != Errno.OK) return (lease, file.Failure);
            FdOutcome r;
            try { r = await _migrator.ResolveAsync(file, lease.Graph).ConfigureAwait(false); }
            catch { lease.Dispose(); throw; }
            switch (r.Kind)
            {
                case FdResolution.Ready: return (lease, r.Fd!);
                case FdResolution.Failed: return (lease, r.Error);
            }
            // The file is on a newer graph than this fop entered: enter again (it never moves back).
            lease.Dispose();
            lease = Enter(ctx);
        }
    }

    /// <summary>Drops a reference taken by <see cref="EnterFileAsync"/>; the last one sends release on the fd's own graph.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ValueTask PutFdAsync(Fd fd) => fd.Unref() ? ReleaseFdAsync(fd) : default;

    private async ValueTask ReleaseFdAsync(Fd fd)
    {
        var g = fd.Graph!;
        // A graph torn down by force has closed everything already; a release now could only
        // hit a translator that is gone.
        if (g.State == GraphState.Destroyed) return;
        using var lease = GraphSet.Hold(g);
        try
        {
            if (fd.IsDirectory) await g.Top.ReleasedirAsync(fd).ConfigureAwait(false);
            else await g.Top.ReleaseAsync(fd).ConfigureAwait(false);
            Interlocked.Increment(ref _counters.FdsReleased);
        }
        catch (Exception e) { LogReleaseFailed(_log, e, fd.Inode.Gfid, g.Generation); }
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

    /// <summary>Records an entry fop's result (see <see cref="NodeTable.Link"/>): the node for its GFID, with one more lookup.</summary>
    private MountNode LinkNode(Graph g, Gfid parent, string? name, in Iatt iatt) => _nodes.Link(g, parent, name, iatt);

    /// <summary>FORGET: drops <paramref name="n"/> of the front end's lookups; at zero the node's id becomes stale.</summary>
    public void Forget(MountNode node, ulong n) => _nodes.Forget(node, n);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _locks.Close();
        foreach (var f in _files.Snapshot()) await ReleaseAsync(f).ConfigureAwait(false);
        DropPending();
        _nodes.DetachAll();
        _retirementsStop.Cancel();
        // Every graph still held (the active one and any old one mid-retirement) drains: fops in
        // flight, then PARENT_DOWN, both bounded (DESIGN invariant 6), then destroy.
        await Task.WhenAll(_graphs.Close().Select(DrainAndDestroyAsync)).ConfigureAwait(false);
        _graphs.Dispose();
        _retirementsStop.Dispose();
        Metrics.Dispose();
    }

    private async Task DrainAndDestroyAsync(Graph g)
    {
        if (!await _graphs.DrainAndDestroyAsync(g, Options.DrainTimeout).ConfigureAwait(false))
            LogDrainTimeout(_log, g.Generation, Options.DrainTimeout);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "release of {Gfid} on graph {Generation} failed")]
    private static partial void LogReleaseFailed(ILogger log, Exception e, Gfid gfid, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "graph {Generation}: not drained or PARENT_DOWN not handled within {Timeout}; destroying anyway")]
    private static partial void LogDrainTimeout(ILogger log, long generation, TimeSpan timeout);
}
