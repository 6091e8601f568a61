namespace Graft.Core;

/// <summary>
/// An open of one inode on one graph. Its <see cref="Inode"/> is fixed at creation and can
/// never change (DESIGN invariant 1): there is no setter, and no code path swaps it.
/// </summary>
public sealed class Fd
{
    private readonly ContextSlots _ctx;
    private int _refs = 1;
    private readonly long _openedAt;   // the file's write-back error sequence when this fd was opened
    private long _fsyncSeen;           // ... and as far as fsync has reported it

    public Fd(Inode inode, int flags, int pid = 0, ulong lockOwner = 0)
    {
        Inode = inode;
        Flags = flags;
        Pid = pid;
        LockOwner = lockOwner;
        _openedAt = _fsyncSeen = inode.WriteBackErrors.Sample();
        _ctx = new ContextSlots(inode.Table.CtxSlots);
        inode.Table.OnFdCreated(this);
    }

    public Inode Inode { get; }
    public int Flags { get; }
    public int Pid { get; }
    public ulong LockOwner { get; }
    public bool IsDirectory => Inode.IsDir;
    /// <summary>
    /// The code that runs once this fd's release is done, up to the front end's, never blocks (as
    /// <see cref="FopContext.ContinueInline"/> says of a fop's): a transport may then finish the release where its
    /// reply arrives rather than hand it to the thread pool. Release has no fop context, so the fd carries it: the
    /// mount session sets it from the context of the caller that opened the fd (the FUSE bridge's), and a migrated
    /// fd keeps it. Off by default (a library caller's code is unknown).
    /// </summary>
    public bool ReleaseInline { get; init; }
    public Graph? Graph => Inode.Table.Graph;
    public int RefCount => Volatile.Read(ref _refs);

    /// <summary>
    /// What fsync reports: the latest write-back error of the file recorded since this fd was
    /// opened or last reported one, reported once (the next fsync succeeds unless a new one came).
    /// </summary>
    public Errno TakeWriteBackError() => Inode.WriteBackErrors.CheckAndAdvance(ref _fsyncSeen);

    /// <summary>What the next <see cref="TakeWriteBackError"/> would report, without consuming it.</summary>
    public Errno PendingWriteBackError => Inode.WriteBackErrors.Check(Volatile.Read(ref _fsyncSeen));

    /// <summary>
    /// What close reports: the latest write-back error of the file recorded while this fd was open,
    /// whether or not an fsync reported it already (close tells whether every write landed).
    /// </summary>
    public Errno WriteBackErrorSinceOpen => Inode.WriteBackErrors.Check(_openedAt);

    public object? GetCtx(Translator xl) => _ctx.Get(xl);

    public void SetCtx(Translator xl, object? value) => _ctx.Set(xl, value);

    /// <summary>
    /// The first context of type <typeparamref name="T"/> that <paramref name="match"/> accepts,
    /// whichever translator of the fd's graph set it. For work across graphs (lock rebind), where
    /// the caller is not a translator of this fd's graph and so has no slot of its own here.
    /// </summary>
    public T? FindCtx<T>(Func<T, bool> match) where T : class => _ctx.Find(match);

    public void Ref() => Interlocked.Increment(ref _refs);

    /// <summary>
    /// Takes a reference only if the fd is still alive (refs &gt; 0): for callers that found the fd
    /// through a hint another thread may be releasing. Lock-free; false means "resolve again".
    /// </summary>
    public bool TryRef()
    {
        var n = Volatile.Read(ref _refs);
        while (n > 0)
        {
            var seen = Interlocked.CompareExchange(ref _refs, n + 1, n);
            if (seen == n) return true;
            n = seen;
        }
        return false;
    }

    /// <summary>Drops a reference; true when it was the last, and the owner must now send release.</summary>
    public bool Unref()
    {
        var n = Interlocked.Decrement(ref _refs);
        if (n < 0) throw new InvalidOperationException("fd released twice");
        if (n == 0) { Inode.Table.OnFdDestroyed(this); return true; }
        return false;
    }

    public override string ToString() => $"fd({Inode.Gfid}, flags 0x{Flags:x}, gen {Graph?.Generation.ToString() ?? "-"})";
}
