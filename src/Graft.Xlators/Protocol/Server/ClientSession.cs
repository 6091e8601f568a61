using System.Buffers.Binary;
using System.Security.Cryptography;
using Graft.Core;

namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// What the brick keeps for one client (mount identity, graph generation, client instance): its
/// open fds by remote id. It outlives a connection: after an unclean loss it waits grace-timeout
/// for the same client to reconnect and find its fds; a clean goodbye frees it at once.
/// </summary>
/// <remarks>
/// One mount has one session per graph generation, so a mount's locks outlive any one session:
/// they go only when the last session of the mount ends. "The mount" is the handshake's identity:
/// every call of the session is that mount's, whatever its caller field says.
/// </remarks>
internal sealed class ClientSession(string key, string peer, Guid mountId, Guid instance) : IUpcallSink
{
    private readonly Dictionary<ulong, Fd> _fds = new();   // guarded by itself; leaf lock
    private bool _ended;   // guarded by _fds: released for good; an open finishing late must not land here

    public string Key { get; } = key;
    public Guid MountId { get; } = mountId;
    /// <summary>The protocol/client instance on the other end: how a rebind names this session.</summary>
    public Guid Instance { get; } = instance;
    /// <summary>Who opened the session (a certificate, "secret", or an address): only the same principal may resume it.</summary>
    public required string Principal { get; init; }
    /// <summary>The session is untrusted and root-squashed: its callers' uid/gid 0 become 65534, and privileged xattrs are refused.</summary>
    public bool Squash { get; init; }
    /// <summary>Issued in the session's Welcome; a reconnect must present it to resume. Never logged.</summary>
    public byte[] ResumeToken { get; } = Wire.Handshake.NewToken();
    public string Peer { get; set; } = peer;
    /// <summary>The connection serving this session now, or null while it waits out the grace.</summary>
    public ServerConnection? Connection;
    /// <summary>Cancels the grace timer when the client comes back.</summary>
    public CancellationTokenSource? Grace;

    /// <summary>The client asked for invalidation notices at its (latest) handshake (docs/wire-protocol.md, Upcall).</summary>
    public volatile bool WantsUpcalls;

    /// <summary>features/upcall: another client changed something this one looked at. Queued on the connection
    /// serving the session now; a session between connections misses it (its client reconnects and looks again).</summary>
    public void Send(in UpcallNotice notice) => Connection?.SendUpcall(notice);

    Guid IUpcallSink.Mount => MountId;

    public int FdCount { get { lock (_fds) return _fds.Count; } }

    /// <summary>The fd's remote id, or 0 when the session has ended (the caller must release the fd itself).</summary>
    public ulong Add(Fd fd)
    {
        lock (_fds)
        {
            if (_ended) return 0;
            // Random, not a counter: an fd id says nothing about other fds or sessions (0 is never one).
            Span<byte> r = stackalloc byte[8];
            ulong id;
            do { RandomNumberGenerator.Fill(r); id = BinaryPrimitives.ReadUInt64LittleEndian(r); }
            while (id == 0 || _fds.ContainsKey(id));
            _fds.Add(id, fd);
            return id;
        }
    }

    /// <summary>The fd with a reference taken for the caller, who must <see cref="Fd.Unref"/> it.</summary>
    public Fd? Get(ulong id)
    {
        lock (_fds)
        {
            if (!_fds.TryGetValue(id, out var fd)) return null;
            fd.Ref();
            return fd;
        }
    }

    /// <summary>The open flags of fd <paramref name="id"/>, or null when the session has no such fd (no reference taken).</summary>
    public int? FlagsOf(ulong id)
    {
        lock (_fds) return _fds.TryGetValue(id, out var fd) ? fd.Flags : null;
    }

    public Fd? Remove(ulong id)
    {
        lock (_fds) return _fds.Remove(id, out var fd) ? fd : null;
    }

    /// <summary><see cref="Add"/>, unless the session already has <paramref name="max"/> fds open (<paramref name="full"/>: nothing added, 0).</summary>
    public ulong AddWithin(Fd fd, int max, out bool full)
    {
        lock (_fds)
        {
            full = _fds.Count >= max;
            return full ? 0 : Add(fd);
        }
    }

    private int _lockWaits;

    /// <summary>Blocking lock requests of this session in service (max-lock-waits-per-session bounds them).</summary>
    public int LockWaits => Volatile.Read(ref _lockWaits);

    /// <summary>Counts one more blocking lock request in service, unless <paramref name="max"/> are already.</summary>
    public bool TryEnterLockWait(int max)
    {
        if (Interlocked.Increment(ref _lockWaits) <= max) return true;
        Interlocked.Decrement(ref _lockWaits);
        return false;
    }

    public void ExitLockWait() => Interlocked.Decrement(ref _lockWaits);

    public List<Fd> RemoveAll()
    {
        lock (_fds)
        {
            _ended = true;
            var all = _fds.Values.ToList();
            _fds.Clear();
            return all;
        }
    }
}
