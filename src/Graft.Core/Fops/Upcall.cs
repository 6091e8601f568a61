namespace Graft.Core;

/// <summary>What an invalidation notice names. Values are on the wire (docs/wire-protocol.md): never renumber.</summary>
public enum UpcallKind : byte
{
    /// <summary>An object's attributes, data or xattrs changed: drop what is cached of it.</summary>
    Inode = 1,
    /// <summary>A name in a directory appeared, went or now names another object: drop that name's cached
    /// lookup (positive or negative) and the directory's attributes.</summary>
    Entry = 2,
}

/// <summary>
/// An invalidation notice from a brick (features/upcall): another client changed something this client looked at
/// recently, so what this client caches of it (md-cache, the kernel) is stale. For <see cref="UpcallKind.Inode"/>,
/// <see cref="Gfid"/> is the object and <see cref="Data"/> says whether its contents changed too (cached pages are
/// stale); for <see cref="UpcallKind.Entry"/>, <see cref="Gfid"/> is the directory and <see cref="Name"/> the name.
/// </summary>
public readonly record struct UpcallNotice(UpcallKind Kind, Gfid Gfid, string? Name, bool Data)
{
    public static UpcallNotice Inode(Gfid gfid, bool data) => new(UpcallKind.Inode, gfid, null, data);
    public static UpcallNotice Entry(Gfid dir, string name) => new(UpcallKind.Entry, dir, name, false);
}

/// <summary>
/// Where a caller's notices go: protocol/server gives each call of a session that asked for notices at its
/// handshake the session itself (<see cref="FopContext.Upcalls"/>); features/upcall remembers it per object the
/// caller looked at and sends it what other callers change. Send must not block (it queues a frame).
/// </summary>
public interface IUpcallSink
{
    /// <summary>The mount (client process) behind this sink: one mount has a session per graph generation, and none
    /// of them is told of a change the mount made itself, through whichever graph (its kernel saw it happen).</summary>
    Guid Mount { get; }

    void Send(in UpcallNotice notice);
}

/// <summary>
/// A leaf of a client graph that receives a brick's invalidation notices (protocol/client). A cache that relies on
/// notices to stay true (performance/nl-cache) keeps what it learned only while <see cref="NoticeRun"/> stays the
/// same: notices are lost with a connection, and not sent at all unless the brick agreed to at the handshake.
/// </summary>
public interface INoticeSource
{
    /// <summary>A number for the unbroken run of notices this leaf is in now — its connection's, while that is up and
    /// the brick sends notices on it — or 0 when no notices are coming.</summary>
    long NoticeRun { get; }

    /// <summary>The mount the bricks know this leaf's session by: they send none of its sessions a notice of a change
    /// the mount made itself, through whichever of its graphs.</summary>
    Guid Mount { get; }
}
