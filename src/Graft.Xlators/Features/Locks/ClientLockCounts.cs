namespace Graft.Xlators.Features.Locks;

/// <summary>
/// Locks held on this brick per client mount, for <c>max-locks-per-client</c>, and the requests
/// refused by the lock limits. A lock is counted under its owner's mount, which it keeps for life:
/// a rebind moves it to another fd of the same mount (another session of it), never to another
/// mount, so the count follows every grant, split, merge and release with no special case.
/// </summary>
/// <remarks>Its lock is a leaf, taken inside a file's lock.</remarks>
internal sealed class ClientLockCounts
{
    private readonly Dictionary<Guid, int> _held = new();   // guarded by itself
    private long _heldRefused, _waitersRefused;

    /// <summary>The most locks (fcntl ranges and flocks) one mount may hold on this brick.</summary>
    public volatile int Max = 16384;

    public long HeldRefused => Interlocked.Read(ref _heldRefused);
    public long WaitersRefused => Interlocked.Read(ref _waitersRefused);

    public int Held(Guid mount)
    {
        lock (_held) return _held.GetValueOrDefault(mount);
    }

    public void Add(Guid mount, int delta)
    {
        if (delta == 0) return;
        lock (_held)
        {
            int n = _held.GetValueOrDefault(mount) + delta;
            if (n > 0) _held[mount] = n;
            else _held.Remove(mount);
        }
    }

    /// <summary>A set or unlock that would take the mount past <see cref="Max"/> locks was refused (ENOLCK).</summary>
    public void RefusedHeld() => Interlocked.Increment(ref _heldRefused);

    /// <summary>A blocking request found its file's queue full (ENOLCK).</summary>
    public void RefusedWaiter() => Interlocked.Increment(ref _waitersRefused);
}
