namespace Graft.Core;

/// <summary>
/// The waiters of one signal, split by where each goes on when it fires: one whose code never blocks (its
/// <see cref="FopContext.ContinueInline"/>, the FUSE bridge's) on the thread that fires it, any other on the thread
/// pool. A pool hand-off costs a thread wake-up; an inline waiter costs none, but runs inside
/// <see cref="Fired.Complete"/>. Not thread-safe: its owner keeps it as a field under its own lock, asks for a waiter
/// and <see cref="Take"/>s them under it, and completes what it took after letting the lock go (an inline waiter may
/// come back into the owner). Nothing is allocated until someone waits.
/// </summary>
public struct SplitWaiters
{
    private TaskCompletionSource? _pool, _inline;

    /// <summary>A task that completes when the waiters taken next are completed; <paramref name="inline"/>: on that thread.</summary>
    public Task Wait(bool inline) => inline
        ? (_inline ??= new TaskCompletionSource()).Task
        : (_pool ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>The waiters so far, taken out (the next <see cref="Wait"/> waits for the next firing).</summary>
    public Fired Take()
    {
        var f = new Fired(_pool, _inline);
        _pool = _inline = null;
        return f;
    }

    /// <summary>Waiters taken out of a <see cref="SplitWaiters"/>, to be completed outside the owner's lock.</summary>
    public readonly struct Fired(TaskCompletionSource? pool, TaskCompletionSource? inline)
    {
        /// <summary>Queues the pool's waiters, then runs the inline ones here.</summary>
        public void Complete()
        {
            pool?.TrySetResult();
            inline?.TrySetResult();
        }
    }
}
