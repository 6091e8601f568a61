namespace Graft.Core;

/// <summary>
/// Who is calling and under what conditions: one per fop. Front ends may reuse an instance
/// for successive fops of one request loop to avoid allocating on the hot path.
/// </summary>
public sealed class FopContext
{
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    /// <summary>Supplementary groups of the caller (not including <see cref="Gid"/>).</summary>
    public uint[] Groups { get; set; } = [];
    public int Pid { get; set; }
    /// <summary>Lock owner as the front end knows it (the kernel's lock_owner, or a library handle id).</summary>
    public ulong LockOwner { get; set; }
    /// <summary>
    /// The identity of the mount (client process) the fop comes from: fixed for the life of the
    /// mount daemon and independent of the graph generation (DESIGN invariant 9). A lock's owner
    /// is (MountId, LockOwner). protocol/server sets it from the connection's handshake.
    /// </summary>
    public Guid MountId { get; set; }
    /// <summary>
    /// The brick session the fop came through (one protocol/client of the mount, for one graph):
    /// protocol/server sets it from the handshake. Domain locks (inodelk, entrylk) taken through a
    /// session go when that session ends; Guid.Empty with no protocol/server above.
    /// </summary>
    public Guid Session { get; set; }
    public CancellationToken Cancellation { get; set; }
    /// <summary>The graph this fop runs on; set by the mount session before the fop is wound.</summary>
    public Graph? Graph { get; set; }
    /// <summary>
    /// The code that runs after each await of this fop, up to and including the front end's, never
    /// blocks its thread (no waiting on other work, no blocking calls): a transport may then run it on
    /// the thread that read the reply instead of handing it to the thread pool, which saves a thread
    /// wake-up per round trip. The FUSE bridge sets it; a library caller's code is unknown (it may
    /// wait synchronously for the next call's reply, which that thread would have to read), so it
    /// is off by default and not carried over by <see cref="CloneForCall"/>.
    /// </summary>
    public bool ContinueInline { get; set; }
    /// <summary>
    /// A write's payload may be kept past the call without a copy by asking this lender (<see cref="IPayloadLender"/>):
    /// set by a front end for a write whose data lies in a buffer it can lend (the FUSE bridge, for a big WRITE), null
    /// otherwise. Valid only during the fop it came with; not carried over by <see cref="CloneForCall"/>.
    /// </summary>
    public IPayloadLender? Payload { get; set; }
    /// <summary>
    /// A read's data may be handed to this sink as a range of the open file instead of being copied into the read's
    /// buffer (<see cref="IReadRangeSink"/>): set by protocol/server for a big read on a connection that can send file
    /// pages itself (read-splice), null otherwise. A translator that looks at or changes a read's bytes clears it before
    /// it passes the read down (none in this tree does). Valid only during the fop it came with; not carried over by
    /// <see cref="CloneForCall"/>.
    /// </summary>
    public IReadRangeSink? ReadSink { get; set; }
    /// <summary>
    /// A write's data is not in its memory yet but in the front end's hands (<see cref="IWriteSource"/>): set by
    /// protocol/server for a big write whose payload it received into a pipe (write-splice), and only when every
    /// translator between it and storage/posix passes writes on unchanged (the write's data reads as zeros meanwhile).
    /// A translator that looks at or changes a write's bytes must take them with <see cref="IWriteSource.TryFill"/>. Valid only during the fop it came with; not
    /// carried over by <see cref="CloneForCall"/>.
    /// </summary>
    public IWriteSource? WriteSource { get; set; }
    /// <summary>
    /// The caller's identity was not authenticated: it came from a brick session that proved neither
    /// the brick's secret nor a certificate, so the uid it names is only a claim. storage/posix then
    /// keeps <c>trusted.*</c> and <c>security.*</c> xattrs from it. False in graphs with no
    /// protocol/server above them (the caller is this process); protocol/server sets it on every call.
    /// </summary>
    public bool Untrusted { get; set; }

    /// <summary>
    /// Where invalidation notices for this caller go (features/upcall, docs/performance.md): set by protocol/server
    /// for calls of a session that asked for them at its handshake, null otherwise (nothing is remembered for it,
    /// nothing is sent to it). Also tells features/upcall which caller made a change, so it never notifies that
    /// caller of its own change.
    /// </summary>
    public IUpcallSink? Upcalls { get; set; }

    /// <summary>
    /// The parent directory's attributes right after this fop changed its entries (create, unlink): set by
    /// storage/posix, carried back over the wire by protocol/server and protocol/client (reply xdata
    /// <c>postparent</c>), so that performance/md-cache above can answer the kernel's next getattr of the
    /// directory — which it always sends after such a change — without a round trip. Null when no layer below
    /// reported them; a layer that calls a fop clears it first, so it never describes an earlier fop.
    /// </summary>
    public Iatt? PostParent { get; set; }

    /// <summary>The mount's own trusted identity (root): used for internal work such as fd migration.</summary>
    public static FopContext Root() => new() { Uid = 0, Gid = 0 };

    public static FopContext ForCaller(uint uid, uint gid, uint[]? groups = null, int pid = 0) =>
        new() { Uid = uid, Gid = gid, Groups = groups ?? [], Pid = pid };

    public bool IsRoot => Uid == 0;

    /// <summary>A copy of the caller's identity and cancellation for another call made on its behalf (no graph yet).</summary>
    public FopContext CloneForCall() => new()
    {
        Uid = Uid, Gid = Gid, Groups = Groups, Pid = Pid, LockOwner = LockOwner, MountId = MountId, Session = Session, Cancellation = Cancellation,
        Untrusted = Untrusted, Upcalls = Upcalls,
    };

    public bool InGroup(uint gid) => Gid == gid || Array.IndexOf(Groups, gid) >= 0;
}
