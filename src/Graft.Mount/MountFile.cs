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

    /// <summary>Single-flight guard for the miss path: one migration of this file at a time; never held on a hit.</summary>
    public SemaphoreSlim MigrationLock { get; } = new(1, 1);

    /// <summary>Why the last attempt to move this file to the active graph failed (OK if none did).</summary>
    public Errno LastMigrationError { get; internal set; }

    internal bool Released => Volatile.Read(ref _released) != 0;
    internal bool MarkReleased() => Interlocked.Exchange(ref _released, 1) == 0;

    internal Fd? CompareExchangeFd(Fd value, Fd expected) => Interlocked.CompareExchange(ref _fd, value, expected);

    // ---- directory cookies ----
    // The session gives the front end its own readdir cookies: cookie k resumes after the k-th
    // entry of this open. The backend offset for each is kept here, for the graph whose fd
    // produced it; a switch re-reads on the new graph rather than trusting another graph's offsets.
    private readonly object _dirSync = new();
    private List<long>? _dirOffsets;
    private long _dirOffsetsGeneration;

    /// <summary>The backend offset to resume at for session cookie <paramref name="cookie"/>, or false if unknown.</summary>
    internal bool TryGetBackendOffset(long cookie, out long backend, out long generation)
    {
        lock (_dirSync)
        {
            generation = _dirOffsetsGeneration;
            backend = 0;
            if (cookie == 0) return true;
            if (_dirOffsets is null || cookie < 0 || cookie > _dirOffsets.Count) return false;
            backend = _dirOffsets[(int)(cookie - 1)];
            return true;
        }
    }

    /// <summary>Records the backend offset after entry number <paramref name="cookie"/> (1-based) and returns the cookie.</summary>
    internal long RecordBackendOffset(long cookie, long backend, long generation)
    {
        lock (_dirSync)
        {
            _dirOffsets ??= [];
            _dirOffsetsGeneration = generation;
            if (cookie <= _dirOffsets.Count) _dirOffsets[(int)(cookie - 1)] = backend;
            else _dirOffsets.Add(backend);
            return cookie;
        }
    }

    internal int DirCookiesKnown { get { lock (_dirSync) return _dirOffsets?.Count ?? 0; } }

    public override string ToString() => $"file {HandleId:x} ({Node.Gfid}, flags 0x{Flags:x})";
}
