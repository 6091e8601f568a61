using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

/// <summary>
/// Attribute and entry cache lifetimes the kernel is given (FUSE's entry_timeout, attr_timeout, negative_timeout). One
/// not given (null) is <see cref="DefaultTimeout"/>, or <see cref="NotifiedTimeout"/> while every brick below the mount
/// sends it invalidation notices (features/upcall; docs/performance.md, "Kernel cache timeouts").
/// </summary>
public sealed record FuseBridgeOptions
{
    /// <summary>What the kernel may cache without notices: another client's change is seen within it.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1);

    public TimeSpan? EntryTimeout { get; init; }
    public TimeSpan? AttrTimeout { get; init; }
    /// <summary>How long the kernel may remember that a name does not exist; zero answers ENOENT uncached.</summary>
    public TimeSpan? NegativeTimeout { get; init; }
    /// <summary>The lifetime of each of the three not given while notices are coming (another client's change is pushed
    /// to the kernel as it happens); zero or less: never longer than <see cref="DefaultTimeout"/>.</summary>
    public TimeSpan NotifiedTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How often the bridge checks whether names cached on the word of notices may have gone stale (a brick's
    /// connection lost or made again, a graph switch), to make the kernel look them up again.</summary>
    public TimeSpan StalenessCheck { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Maps kernel requests onto the mount session. The kernel's nodeid is a <see cref="MountNode"/>'s handle id
/// and its fh a <see cref="MountFile"/>'s: mount-level objects keyed by GFID, independent of any graph, whose
/// ids are never reused while the kernel may still name them (a reused slot gets a new generation). Lookup
/// counts live on the nodes; FORGET hands them back. Every reply that tells the kernel about a node or file it
/// then fails to receive (the request was interrupted) is undone, so counts never leak.
/// </summary>
public sealed partial class FuseBridge : IFuseFileSystem
{
    readonly MountSession _session;
    /// <summary>The kernel's cache lifetimes without notices, and while every brick sends them (the same object when
    /// longer ones do not apply).</summary>
    readonly Ttls _plain, _notified;
    readonly long _attrTtlMs;
    readonly TimeSpan _stalenessCheck;

    sealed record Ttls((ulong Sec, uint Nsec) Entry, (ulong Sec, uint Nsec) Attr, (ulong Sec, uint Nsec) Negative);

    public FuseBridge(MountSession session, FuseBridgeOptions? options = null)
    {
        _session = session;
        options ??= new FuseBridgeOptions();
        var d = FuseBridgeOptions.DefaultTimeout;
        _plain = new Ttls(Ttl(options.EntryTimeout ?? d), Ttl(options.AttrTimeout ?? d), Ttl(options.NegativeTimeout ?? d));
        var n = options.NotifiedTimeout > d ? options.NotifiedTimeout : d;
        var notified = new Ttls(Ttl(options.EntryTimeout ?? n), Ttl(options.AttrTimeout ?? n), Ttl(options.NegativeTimeout ?? n));
        _notified = notified == _plain ? _plain : notified;
        // The kernel's GETXATTR(security.capability) of a new file is answered from memory for this long (Files.cs):
        // the plain attribute lifetime, as no notice would end it.
        _attrTtlMs = (long)(options.AttrTimeout ?? d).TotalMilliseconds;
        _stalenessCheck = options.StalenessCheck;
    }

    /// <summary>The lifetimes for a reply now: the longer ones only while every brick below sends notices.</summary>
    Ttls Lifetimes
    {
        get
        {
            if (!_notifiedOn || !_session.NoticesComing) return _plain;
            _notifiedGiven = true;   // FuseBridge.Upcalls.cs: a later loss of notices makes the kernel look names up again
            return _notified;
        }
    }

    public MountSession Session => _session;

    /// <summary>The brick clears set-id bits when a non-root caller changes a file (storage/posix runs such a write
    /// as the caller), for every front end alike; the kernel's own SETATTR of the mode, as the writer, would be
    /// refused to anyone but the owner.</summary>
    public bool HandlesKillPriv => true;

    static (ulong, uint) Ttl(TimeSpan t) =>
        t <= TimeSpan.Zero ? (0, 0) : ((ulong)(t.Ticks / TimeSpan.TicksPerSecond), (uint)(t.Ticks % TimeSpan.TicksPerSecond * 100));

    /// <summary>The request's fop context, reused with the pooled request object so the hot path allocates
    /// nothing. Groups are read (from a short cache) only where the brick checks permissions.</summary>
    static FopContext Ctx(FuseRequest r, bool groups = true)
    {
        if (r.UserState is not FopContext c) r.UserState = c = new FopContext();
        c.Uid = r.Uid;
        c.Gid = r.Gid;
        c.Pid = (int)r.Pid;
        c.Groups = groups ? r.GetSupplementaryGroups() : [];
        c.LockOwner = 0;
        c.Cancellation = r.CancellationToken;
        c.Graph = null;
        c.Payload = null;
        // The bridge and everything below it are async all the way and the reply is one writev to
        // /dev/fuse; notifications, the one write that may block, go through the thread pool.
        c.ContinueInline = true;
        return c;
    }

    /// <summary>The pooled request's fop context still names the graph its last fop ran on (the session sets it on
    /// entry): a request object resting in the pool would keep that graph reachable after it is retired and
    /// destroyed (DESIGN invariant 8).</summary>
    public void RequestDone(FuseRequest r)
    {
        if (r.UserState is FopContext c)
        {
            c.Graph = null;
            c.Payload = null;
        }
    }

    /// <summary>A name, symlink target or xattr name from the kernel: bytes, mapped losslessly (<see cref="NameBytes"/>).</summary>
    static string Str(ReadOnlyMemory<byte> name) => NameBytes.GetString(name.Span);

    public static FuseAttr ToAttr(in Iatt a) => new()
    {
        Ino = a.Ino != 0 ? a.Ino : Iatt.InoOf(a.Gfid),
        Size = (ulong)a.Size,
        Blocks = (ulong)a.Blocks,
        Atime = (ulong)a.Atime.Sec, AtimeNsec = a.Atime.Nsec,
        Mtime = (ulong)a.Mtime.Sec, MtimeNsec = a.Mtime.Nsec,
        Ctime = (ulong)a.Ctime.Sec, CtimeNsec = a.Ctime.Nsec,
        Mode = a.Mode,
        Nlink = a.Nlink,
        Uid = a.Uid,
        Gid = a.Gid,
        // The kernel decodes a 32-bit "new" dev_t; glibc's 64-bit encoding agrees in the low 32 bits for
        // majors < 4096 and minors < 2^20.
        Rdev = (uint)a.Rdev,
        BlkSize = a.Blksize > 0 ? (uint)a.Blksize : 4096,
    };

    FuseEntryOut Entry(MountNode node, in Iatt attr)
    {
        var t = Lifetimes;
        return new()
        {
            NodeId = node.HandleId,
            // nodeid is already unique for the mount's life (slot + generation); the generation repeats it for NFS
            // file handles, which carry both.
            Generation = node.HandleId >> 32,
            EntryValid = t.Entry.Sec, EntryValidNsec = t.Entry.Nsec,
            AttrValid = t.Attr.Sec, AttrValidNsec = t.Attr.Nsec,
            Attr = Reported(node, attr),
        };
    }

    FuseAttrOut AttrOut(MountNode node, in Iatt attr)
    {
        var t = Lifetimes;
        return new() { AttrValid = t.Attr.Sec, AttrValidNsec = t.Attr.Nsec, Attr = Reported(node, attr) };
    }

    /// <summary>The attributes the kernel is about to cache for <paramref name="node"/>; their mode is remembered
    /// (<see cref="MountNode.ReportedMode"/>) for <see cref="DropStaleSetIdAsync"/>.</summary>
    static FuseAttr Reported(MountNode node, in Iatt attr)
    {
        node.ReportedMode = attr.Mode;
        return ToAttr(attr);
    }

    /// <summary>
    /// Before answering a call that may have made the brick clear a set-id bit (a write, truncating open,
    /// fallocate or copy by a caller without CAP_FSETID): if the kernel holds a mode with such a bit for the file,
    /// it is told to drop its cached attributes (only those), so a stat right after sees what the brick has. The
    /// kernel invalidates size and times after a write by itself, but not the mode. Costs nothing for any other file.
    /// </summary>
    async ValueTask DropStaleSetIdAsync(FuseRequest r, MountNode node)
    {
        if (!PosixMode.IsReg(node.ReportedMode) || (node.ReportedMode & (PosixMode.S_ISUID | PosixMode.S_ISGID)) == 0) return;
        await r.Session.NotifyInvalInodeAsync(node.HandleId, offset: -1).ConfigureAwait(false);
    }

    /// <summary>Replies with a new lookup of <paramref name="e"/>; if the kernel did not take it, gives it back.</summary>
    void ReplyEntry(FuseRequest r, in NodeEntry e)
    {
        if (r.ReplyEntry(Entry(e.Node, e.Attr)) != Errno.OK) _session.Forget(e.Node, 1);
    }

    void ReplyEntryResult(FuseRequest r, in Result<NodeEntry> res)
    {
        if (res.Ok) ReplyEntry(r, res.Value);
        else r.ReplyError(res.Error);
    }

    /// <summary>Stale or unknown nodeid: the node was forgotten (the kernel should not still name it).</summary>
    bool TryNode(FuseRequest r, ulong id, out MountNode node)
    {
        node = _session.GetNode(id)!;
        if (node is not null) return true;
        r.ReplyError(Errno.ESTALE);
        return false;
    }

    bool TryFile(FuseRequest r, ulong fh, out MountFile file)
    {
        file = _session.GetFile(fh)!;
        if (file is not null) return true;
        r.ReplyError(Errno.EBADF);
        return false;
    }

    public void Forget(ReadOnlySpan<FuseForgetOne> forgets)
    {
        foreach (var f in forgets)
            if (_session.GetNode(f.NodeId) is { } node) _session.Forget(node, f.NLookup);
    }
}
