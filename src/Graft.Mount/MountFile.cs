using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// An open file or directory as the mount knows it (the kernel's fh, a library stream),
/// independent of any graph. Points to the per-graph <see cref="Fd"/> it last resolved to; a
/// later graph switch re-opens it on the new graph under <see cref="MigrationLock"/> with
/// <see cref="Flags"/> (minus O_CREAT/O_EXCL/O_TRUNC) and publishes the new fd here.
/// </summary>
public sealed class MountFile : IHandle
{
    private Fd _fd;
    private int _released;

    internal MountFile(MountNode node, int flags, ulong lockOwner, Fd fd, bool isDirectory)
    {
        Node = node;
        Flags = flags;
        LockOwner = lockOwner;
        _fd = fd;
        IsDirectory = isDirectory;
    }

    private ulong _handleId;

    /// <summary>The id front ends use for this object (set once, by the session's handle table).</summary>
    public ulong HandleId => _handleId;
    ulong IHandle.HandleId { get => _handleId; set => _handleId = value; }
    public MountNode Node { get; }
    /// <summary>The flags of the original open, as the application gave them.</summary>
    public int Flags { get; }
    /// <summary>The front end's lock owner at open (locks are re-bound by owner on migration).</summary>
    public ulong LockOwner { get; }
    public bool IsDirectory { get; }

    /// <summary>The per-graph fd this file last resolved to: a hint, valid when its graph is the active one.</summary>
    public Fd Fd => Volatile.Read(ref _fd);

    /// <summary>The graph this file's hint holds (see <see cref="GraphSet.AddHint"/>): its fd's graph until the file is
    /// released. Changed only under <see cref="MigrationLock"/> (or before the file is published).</summary>
    internal Graph? HintGraph;

    /// <summary>Single-flight guard for the miss path: one migration of this file at a time; never held on a hit.</summary>
    public SemaphoreSlim MigrationLock { get; } = new(1, 1);

    /// <summary>Why the last attempt to move this file to the active graph failed (OK if none did).</summary>
    public Errno LastMigrationError { get; internal set; }

    /// <summary>Write-back errors of the fds this file had on older graphs, still to be reported by fsync and close.</summary>
    internal CarriedWriteBackErrors WriteBackErrors;

    // ---- locks ----
    private int _locking;
    private int _failure;

    /// <summary>A lock was ever set through this file: its brick fd may hold locks or waiters a migration must re-bind.</summary>
    internal bool HasLocked => Volatile.Read(ref _locking) != 0;

    internal void NoteLocking() => Volatile.Write(ref _locking, 1);

    /// <summary>
    /// Why every later call on this file fails (OK while it works): set when a lock it held could
    /// not be re-bound across a switch or taken back after a brick restart. The file fails
    /// closed rather than go on silently unlocked.
    /// </summary>
    public Errno Failure => (Errno)Volatile.Read(ref _failure);

    internal void FailClosed(Errno e) => Interlocked.CompareExchange(ref _failure, (int)e, 0);

    internal bool Released => Volatile.Read(ref _released) != 0;
    internal bool MarkReleased() => Interlocked.Exchange(ref _released, 1) == 0;

    internal Fd? CompareExchangeFd(Fd value, Fd expected) => Interlocked.CompareExchange(ref _fd, value, expected);

    // ---- directory cookies ----
    // The session gives the front end its own readdir cookies: cookie k resumes after the k-th
    // entry of this open. For each, the backend offset is kept with the backend signature of the
    // graph that produced it (valid wherever the same brick directories are reached), and the
    // name, so that a listing restarted on a graph with other backends can skip what it returned.
    private readonly object _dirSync = new();
    private List<(long Backend, string Name)>? _dirEntries;
    private string? _dirSignature;
    private HashSet<string>? _dirSkip;

    /// <summary>
    /// Where to resume a listing at session cookie <paramref name="cookie"/> on a graph with
    /// <paramref name="signature"/>: the backend offset, or a restart from 0 that skips the names
    /// already returned (when the backends differ). False if the cookie was never given out.
    /// </summary>
    internal bool TryResume(long cookie, string signature, out long backend)
    {
        lock (_dirSync)
        {
            backend = 0;
            if (cookie == 0) { _dirSkip = null; _dirSignature = signature; return true; }
            if (_dirEntries is null || cookie < 0 || cookie > _dirEntries.Count) return false;
            if (_dirSignature == signature) { backend = _dirEntries[(int)(cookie - 1)].Backend; return true; }
            // Other backends: their positions mean nothing here. Read again from the start and
            // leave out every name already returned, so each entry comes exactly once.
            _dirSkip = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < cookie; i++) _dirSkip.Add(_dirEntries[i].Name);
            _dirEntries.RemoveRange((int)cookie, _dirEntries.Count - (int)cookie);
            _dirSignature = signature;
            return true;
        }
    }

    /// <summary>Whether a listing restarted after a switch has already returned this name.</summary>
    internal bool AlreadyReturned(string name)
    {
        lock (_dirSync) return _dirSkip is not null && _dirSkip.Contains(name);
    }

    /// <summary>Records the entry given cookie <paramref name="cookie"/> (1-based) and returns the cookie.</summary>
    internal long RecordEntry(long cookie, long backend, string name)
    {
        lock (_dirSync)
        {
            _dirEntries ??= [];
            if (cookie <= _dirEntries.Count) _dirEntries[(int)(cookie - 1)] = (backend, name);
            else _dirEntries.Add((backend, name));
            return cookie;
        }
    }

    internal int DirCookiesKnown { get { lock (_dirSync) return _dirEntries?.Count ?? 0; } }

    public override string ToString() => $"file {HandleId:x} ({Node.Gfid}, flags 0x{Flags:x})";
}
