using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// Replicate's own cross-flow waits (a write window's end, an opening window or entry lease, this client's mutex on
// an object) hand their waiters on as write-behind's signals do (docs/performance.md, write-behind "Threads and
// copies"): a waiter whose code never blocks — its FopContext.ContinueInline says so, the FUSE bridge's — goes on on
// the thread that sets the signal or lets the mutex go (often protocol/client's receive thread, where the last reply
// arrived); any other waiter (a library caller, a heal, PARENT_DOWN) on the thread pool, as its code is unknown.
// A hand-off to the pool costs a thread wake-up, and the pool often wakes a second worker for it. Both are set and
// released outside any lock: an inline waiter runs inside Set or Release.

/// <summary>A one-shot signal (set once, never reset); each waiter says where it goes on (<see cref="SplitWaiters"/>).</summary>
internal sealed class Signal
{
    private SplitWaiters _waiters;
    private bool _set;

    public bool IsSet { get { lock (this) return _set; } }

    /// <summary>Completes once <see cref="Set"/> is called. <paramref name="inline"/>: the waiter's code never blocks, so
    /// it may go on on the thread that sets the signal (its <see cref="FopContext.ContinueInline"/>).</summary>
    public Task WaitAsync(bool inline)
    {
        lock (this) return _set ? Task.CompletedTask : _waiters.Wait(inline);
    }

    /// <summary>Sets the signal: the pool's waiters are queued first, then the inline ones run here, before this returns.</summary>
    public void Set()
    {
        SplitWaiters.Fired fired;
        lock (this)
        {
            if (_set) return;
            _set = true;
            fired = _waiters.Take();
        }
        fired.Complete();
    }
}

/// <summary>
/// This client's mutex on one object (<see cref="ReplInode.Mutex"/>): one holder at a time; waiters get it in the
/// order they came, each going on where the holder lets it go when it said it may (inline), else on the thread pool.
/// (SemaphoreSlim's async waiters always go on on the pool.) A waiter that is cancelled before it gets the mutex
/// leaves the queue; one that got it holds it, whatever its token says afterwards. Nothing is allocated unless a
/// caller has to wait.
/// </summary>
internal sealed class TxnMutex
{
    private sealed class Waiter(TxnMutex owner, bool inline)
        : TaskCompletionSource(inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public readonly TxnMutex Owner = owner;
        public LinkedListNode<Waiter>? Node;
    }

    // Guarded by lock(_waiters).
    private readonly LinkedList<Waiter> _waiters = new();
    private bool _held;

    /// <summary>Whether someone holds it now (for tests and state).</summary>
    public bool Held { get { lock (_waiters) return _held; } }

    /// <summary>How many wait for it now.</summary>
    public int Waiting { get { lock (_waiters) return _waiters.Count; } }

    /// <summary>Takes the mutex if nobody holds it; never waits.</summary>
    public bool TryEnter()
    {
        lock (_waiters)
        {
            if (_held) return false;
            _held = true;
            return true;
        }
    }

    /// <summary>
    /// Completes holding the mutex. <paramref name="inline"/>: the caller's code never blocks (its
    /// <see cref="FopContext.ContinueInline"/>), so it may go on on the thread that releases the mutex to it.
    /// Cancelled (OperationCanceledException) only while still waiting; it then does not hold the mutex.
    /// </summary>
    public Task EnterAsync(bool inline, CancellationToken ct = default)
    {
        Waiter w;
        lock (_waiters)
        {
            if (!_held)
            {
                _held = true;
                return Task.CompletedTask;
            }
            if (ct.IsCancellationRequested) return Task.FromCanceled(ct);
            w = new Waiter(this, inline);
            w.Node = _waiters.AddLast(w);
        }
        return ct.CanBeCanceled ? WaitCancellableAsync(w, ct) : w.Task;
    }

    private static async Task WaitCancellableAsync(Waiter w, CancellationToken ct)
    {
        using (ct.UnsafeRegister(static (s, t) => Cancel((Waiter)s!, t), w))
            await w.Task.ConfigureAwait(false);
    }

    private static void Cancel(Waiter w, CancellationToken ct)
    {
        var queue = w.Owner._waiters;
        lock (queue)
        {
            // Already given the mutex (taken off the queue by Release): it holds it now.
            if (w.Node?.List is null) return;
            queue.Remove(w.Node);
        }
        w.TrySetCanceled(ct);
    }

    /// <summary>Lets the mutex go: to the first waiter (which goes on here when it said it may), or free when nobody waits.</summary>
    public void Release()
    {
        Waiter next;
        lock (_waiters)
        {
            if (!_held) throw new InvalidOperationException("TxnMutex released while nobody holds it");
            if (_waiters.First is not { } first)
            {
                _held = false;
                return;
            }
            _waiters.RemoveFirst();
            next = first.Value;
        }
        next.TrySetResult(); // held on: the mutex passes to it
    }
}
