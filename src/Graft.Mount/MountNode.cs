using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// A file or directory as the mount knows it, independent of any graph (DESIGN invariant 2):
/// what the kernel's nodeid and the library's path walk name. Keyed by GFID; its id is never
/// reused while a front end may still name it.
/// </summary>
/// <remarks>
/// The node holds exactly one lookup reference on the per-graph inode it points to (its hint),
/// however many lookups the front end has on the node; so moving the node to another graph
/// moves one reference. The front end's count lives in <see cref="LookupCount"/>.
/// </remarks>
public sealed class MountNode : IHandle
{
    private Inode _inode;
    internal ulong Lookups; // guarded by NodeTable's lock

    /// <summary>The graph this node's hint holds (see <see cref="GraphSet.AddHint"/>): its inode's graph, or null once
    /// the node is forgotten or its object is gone from the volume. Guarded by NodeTable's lock.</summary>
    internal Graph? HintGraph;

    internal MountNode(Gfid gfid, uint type, Inode inode)
    {
        Gfid = gfid;
        Type = type;
        _inode = inode;
    }

    private ulong _handleId;

    /// <summary>The id front ends use for this object (set once, by the session's handle table).</summary>
    public ulong HandleId => _handleId;
    ulong IHandle.HandleId { get => _handleId; set => _handleId = value; }
    public Gfid Gfid { get; }
    /// <summary>S_IFMT bits; a GFID never changes type.</summary>
    public uint Type { get; }
    public bool IsDir => PosixMode.IsDir(Type);
    public bool IsRoot => Gfid.IsRoot;

    /// <summary>The per-graph inode this node last resolved to: a hint, valid when its graph is the active one.</summary>
    public Inode Inode => Volatile.Read(ref _inode);

    /// <summary>Lookups the front end holds (kernel nlookup); the node is dropped when they reach 0.</summary>
    public ulong LookupCount => Volatile.Read(ref Lookups);

    /// <summary>Set only while holding this node's resolution (a migration publishes the new inode here).</summary>
    internal Inode? CompareExchangeInode(Inode value, Inode expected) =>
        Interlocked.CompareExchange(ref _inode, value, expected);

    private uint _reportedMode;

    /// <summary>The mode in the attributes last handed to the front end for this node (0 before any). The FUSE
    /// bridge keeps it to know what the kernel has cached: a write that makes the brick clear a set-id bit changes
    /// the mode without any reply carrying it, and the kernel must then be told its copy is stale.</summary>
    public uint ReportedMode
    {
        get => Volatile.Read(ref _reportedMode);
        set => Volatile.Write(ref _reportedMode, value);
    }

    private long _noCapabilityUntilMs;

    /// <summary>
    /// Until this <see cref="Environment.TickCount64"/>, the front end may take the file's security.capability
    /// xattr as absent without asking (0: unknown). The FUSE bridge keeps it: the kernel asks for that xattr
    /// before the first write of every open, and a file this mount has just created needs no round trip for
    /// it within the attribute timeout.
    /// </summary>
    public long NoCapabilityUntilMs
    {
        get => Volatile.Read(ref _noCapabilityUntilMs);
        set => Volatile.Write(ref _noCapabilityUntilMs, value);
    }

    /// <summary>The locks this mount holds on the file (null when none were ever taken); see <see cref="NodeLocks"/>.</summary>
    internal NodeLocks? Locks;

    public override string ToString() => $"node {HandleId:x} ({Gfid})";
}
