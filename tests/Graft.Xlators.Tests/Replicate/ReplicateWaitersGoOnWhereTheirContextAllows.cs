using Graft.Xlators.Cluster.Replicate;

namespace Graft.Xlators.Tests.Replicate;

/// <summary>
/// replicate's own waits (a write window's end, a window or entry lock being opened, this client's mutex on an object)
/// hand their waiters on as write-behind's do: a waiter whose context says ContinueInline goes on on the thread that
/// sets the signal or lets the mutex go, before that call returns; any other waiter goes on on the thread pool. The
/// setter here is a thread of the test's own, so a pool continuation can never run on it.
/// </summary>
public class ReplicateWaitersGoOnWhereTheirContextAllows
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Runs <paramref name="what"/> on a new thread (not the pool's); returns that thread's managed id once it is done.</summary>
    private static int OnOwnThread(Action what)
    {
        int id = 0;
        var t = new Thread(() => { id = Environment.CurrentManagedThreadId; what(); }) { IsBackground = true };
        t.Start();
        Assert.True(t.Join(Bound), "the setter's thread did not end");
        return id;
    }

    /// <summary>Where (managed thread) a continuation of <paramref name="wait"/> ran, and whether it ran before <paramref name="marker"/> was set.</summary>
    private static Task<(int Thread, bool BeforeSetReturned)> WhereItGoesOn(Task wait, StrongBox<bool> marker) =>
        wait.ContinueWith(_ => (Environment.CurrentManagedThreadId, !marker.Value), TaskContinuationOptions.ExecuteSynchronously);

    private sealed class StrongBox<T>
    {
        public volatile bool Value;
    }

    [Fact]
    public async Task A_signals_inline_waiter_goes_on_inside_Set_and_its_pool_waiter_on_the_pool()
    {
        var s = new Signal();
        var returned = new StrongBox<bool>();
        var inline = WhereItGoesOn(s.WaitAsync(inline: true), returned);
        var pool = WhereItGoesOn(s.WaitAsync(inline: false), returned);
        Assert.False(inline.IsCompleted);
        int setter = OnOwnThread(() => { s.Set(); returned.Value = true; });
        var (inlineThread, inlineEarly) = await inline.WaitAsync(Bound);
        var (poolThread, _) = await pool.WaitAsync(Bound);
        Assert.Equal(setter, inlineThread);
        Assert.True(inlineEarly, "the inline waiter did not run inside Set");
        Assert.NotEqual(setter, poolThread);
        Assert.True(s.IsSet);
        Assert.True(s.WaitAsync(inline: true).IsCompletedSuccessfully); // after the set: nothing to wait for
        Assert.True(s.WaitAsync(inline: false).IsCompletedSuccessfully);
        s.Set(); // a second set changes nothing
    }

    [Fact]
    public async Task The_mutex_goes_to_its_waiters_in_order_inline_ones_on_the_releasers_thread()
    {
        var m = new TxnMutex();
        Assert.True(m.TryEnter());
        Assert.False(m.TryEnter());
        var returned = new StrongBox<bool>();
        var first = WhereItGoesOn(m.EnterAsync(inline: true), returned);
        var second = WhereItGoesOn(m.EnterAsync(inline: false), returned);
        Assert.Equal(2, m.Waiting);

        int releaser = OnOwnThread(() => { m.Release(); returned.Value = true; });
        var (t1, early1) = await first.WaitAsync(Bound);
        Assert.Equal(releaser, t1);
        Assert.True(early1, "the inline waiter did not get the mutex inside Release");
        Assert.False(second.IsCompleted); // the first holds it now
        Assert.True(m.Held);

        returned.Value = false;
        releaser = OnOwnThread(() => { m.Release(); returned.Value = true; });
        var (t2, _) = await second.WaitAsync(Bound);
        Assert.NotEqual(releaser, t2); // a waiter that did not say inline goes on on the pool
        Assert.True(m.Held);
        m.Release();
        Assert.False(m.Held);
        Assert.True(m.EnterAsync(inline: false).IsCompletedSuccessfully); // free: taken at once, nothing allocated to wait
        m.Release();
        Assert.Throws<InvalidOperationException>(m.Release);
    }

    [Fact]
    public async Task A_waiter_cancelled_before_its_turn_leaves_the_queue_and_one_cancelled_after_keeps_the_mutex()
    {
        var m = new TxnMutex();
        Assert.True(m.TryEnter());
        using var gone = new CancellationTokenSource();
        using var late = new CancellationTokenSource();
        var cancelled = m.EnterAsync(inline: true, gone.Token);
        var next = m.EnterAsync(inline: true, late.Token);
        gone.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Bound));
        Assert.Equal(1, m.Waiting);
        m.Release(); // to the next waiter, not to the cancelled one
        await next.WaitAsync(Bound);
        late.Cancel(); // too late: it holds the mutex
        Assert.True(m.Held);
        Assert.False(m.TryEnter());
        m.Release();
        Assert.False(m.Held);

        using var already = new CancellationTokenSource();
        already.Cancel();
        Assert.True(m.TryEnter());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => m.EnterAsync(inline: false, already.Token));
        Assert.Equal(0, m.Waiting);
        m.Release();
        Assert.False(m.Held);
    }

    [Fact]
    public async Task Many_holders_in_turn_never_overlap()
    {
        var m = new TxnMutex();
        int inside = 0, most = 0, done = 0;
        async Task One(int k)
        {
            await m.EnterAsync(inline: k % 2 == 0);
            int n = Interlocked.Increment(ref inside);
            if (n > Volatile.Read(ref most)) Volatile.Write(ref most, n);
            await Task.Yield();
            Interlocked.Decrement(ref inside);
            Interlocked.Increment(ref done);
            m.Release();
        }
        await Task.WhenAll(Enumerable.Range(0, 200).Select(k => Task.Run(() => One(k)))).WaitAsync(Bound);
        Assert.Equal(1, most);
        Assert.Equal(200, done);
        Assert.False(m.Held);
    }
}
