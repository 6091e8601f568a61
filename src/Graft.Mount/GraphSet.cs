using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// A fop's hold on the graph it entered (<see cref="GraphSet.Enter"/>): while it is held, the graph
/// cannot go idle and be retired. A struct, so taking one allocates nothing; dispose it exactly once.
/// </summary>
public readonly struct GraphLease : IDisposable
{
    internal GraphLease(Graph graph) => Graph = graph;

    public Graph Graph { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose() => Graph.ExitFop();
}

/// <summary>
/// The graphs of one mount: the active one, a pending one (built, children not yet up) and the
/// retiring ones, with the generation counter and the switch lock. It is the only code that moves
/// a graph from one state to the next (Starting → Active → Draining; Destroyed is the graph's own
/// teardown).
/// </summary>
/// <remarks>
/// What holds a graph is counted on the graph itself: every fop in flight (<see cref="Enter"/>,
/// <see cref="Hold"/>) and every hint from outside — a mount node whose inode, or an open file whose
/// fd, points into it (<see cref="AddHint"/>). Once a retiring graph is draining, the last of them
/// to leave completes <see cref="Graph.Idle"/>, which is what retirement waits for. Handles that
/// take a hint on a graph that is no longer active are queued for that graph's sweep, so retirement
/// never has to look for them again.
///
/// Lock order: callers' locks (the session's node lock) → this set's lock (leaf).
/// </remarks>
public sealed class GraphSet : IDisposable
{
    private readonly object _sync = new();
    private readonly List<Graph> _all = [];                     // alive: active, retiring, pending
    private readonly Dictionary<Graph, Channel<IHandle>> _sweeps = new(ReferenceEqualityComparer.Instance); // per retiring graph
    private Graph _active;
    private Graph? _pending;                                    // guarded by _sync
    private CancellationTokenSource? _pendingCancel;            // guarded by _sync
    private TaskCompletionSource _switched = NewSignal();       // completed (and replaced) at every switch
    private long _generation;
    private int _retiring;
    private int _closed;

    /// <param name="initial">The first active graph (Starting or Active).</param>
    public GraphSet(Graph initial)
    {
        if (!initial.Activate() && initial.State != GraphState.Active)
            throw new ArgumentException($"graph {initial.Generation} is {initial.State}, it cannot become active", nameof(initial));
        _active = initial;
        _all.Add(initial);
        _generation = initial.Generation;
    }

    /// <summary>One volfile applied at a time (a new graph is built and made pending under it).</summary>
    public SemaphoreSlim SwitchLock { get; } = new(1, 1);

    /// <summary>The graph new fops go to.</summary>
    public Graph Active => Volatile.Read(ref _active);

    /// <summary>
    /// Completes at the next switch (a newer graph published as active). Read it before
    /// <see cref="Active"/>: a switch between the two reads then still completes it, so a waiter that
    /// found the graph it wanted not yet active cannot miss the switch.
    /// </summary>
    public Task NextSwitch => Volatile.Read(ref _switched).Task;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Graphs held: the active one, older ones not yet destroyed, and one pending.</summary>
    public IReadOnlyList<Graph> All { get { lock (_sync) return [.. _all]; } }

    /// <summary>Some graph that was active once is not destroyed yet.</summary>
    public bool HasRetiring => Volatile.Read(ref _retiring) != 0;

    /// <summary>The generation for the next graph built.</summary>
    public long NextGeneration() => Interlocked.Increment(ref _generation);

    /// <summary>
    /// Counts the caller in flight on the active graph and returns the lease. The count is taken
    /// before the re-check, so a graph that is still active after it cannot go idle under the fop
    /// (DESIGN invariant 3). Throws <see cref="ObjectDisposedException"/> once the set is closed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public GraphLease Enter()
    {
        while (true)
        {
            var g = Volatile.Read(ref _active);
            g.EnterFop();
            if (ReferenceEquals(g, Volatile.Read(ref _active)) && g.State == GraphState.Active) return new GraphLease(g);
            g.ExitFop();
            if (Volatile.Read(ref _closed) != 0) throw new ObjectDisposedException(nameof(GraphSet));
        }
    }

    /// <summary>
    /// Counts the caller in flight on <paramref name="g"/>, whatever its state: for work that must
    /// happen on an older graph (releasing its fds, draining it before a move). The caller checks
    /// <see cref="Graph.State"/> after taking it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static GraphLease Hold(Graph g)
    {
        g.EnterFop();
        return new GraphLease(g);
    }

    /// <summary>
    /// <paramref name="holder"/>'s hint now points into <paramref name="g"/> (call after the hint is
    /// published and the holder is findable). On a graph that is no longer active, the holder is
    /// queued for that graph's sweep.
    /// </summary>
    public void AddHint(Graph g, IHandle holder)
    {
        g.AddHint();
        if (g.State == GraphState.Active) return;
        lock (_sync)
            if (_sweeps.TryGetValue(g, out var q)) q.Writer.TryWrite(holder);
    }

    /// <summary>A hint no longer points into <paramref name="g"/>; the last one out of a retiring graph signals it idle.</summary>
    public static void DropHint(Graph g) => g.DropHint();

    /// <summary>
    /// Write-behind across a switch: makes data acknowledged on graphs older than <paramref name="g"/>
    /// for <paramref name="gfid"/> land below them; true when something was held (so an answer taken
    /// before may be stale). An older graph may still hold writes acknowledged before the switch (the
    /// file's fd has not moved yet, or was just closed there); anything that observes the file on a
    /// newer graph — a lookup reporting its size, a node's inode miss, an unlock — must see them
    /// (POSIX: a read after write() returned sees the data, through any fd). It goes through the settle
    /// contract (<see cref="Translator.SettleAsync"/>), which every translator holding acknowledged
    /// writes implements and every other passes down; nothing is done while no older graph is alive or
    /// none holds bytes (<see cref="Translator.BytesHeld"/>). The switch itself never waits for this.
    /// </summary>
    public ValueTask<bool> SettleOlderAsync(Gfid gfid, Graph g) => !HasRetiring ? new(false) : SettleOlderSlowAsync(gfid, g);

    private async ValueTask<bool> SettleOlderSlowAsync(Gfid gfid, Graph g)
    {
        bool settled = false;
        foreach (var og in All)
        {
            if (og.Generation >= g.Generation || MountSession.BytesHeld(og) == 0) continue;
            // Counted in flight first, so retirement cannot destroy the table under us (invariant 3).
            using (Hold(og))
            {
                if (og.State is GraphState.Destroyed or GraphState.Starting) continue;
                var inode = og.Inodes.Find(gfid);
                if (inode is null) continue;
                // Bounded by the old graph: its writes below time out (frame timeout), or its
                // forced teardown at the retirement bound drops what is still queued.
                await og.Top.SettleAsync(inode).ConfigureAwait(false);
                settled = true;
            }
        }
        return settled;
    }

    /// <summary>Records a graph that is built and starting; it becomes active through <see cref="TryActivate"/>.</summary>
    public void AddPending(Graph g, CancellationTokenSource cancel)
    {
        lock (_sync)
        {
            _all.Add(g);
            _pending = g;
            _pendingCancel = cancel;
        }
    }

    /// <summary>Takes the pending graph away (a newer volfile supersedes it); the caller cancels and tears it down.</summary>
    public (Graph? Graph, CancellationTokenSource? Cancel) TakePending()
    {
        lock (_sync)
        {
            var r = (_pending, _pendingCancel);
            _pending = null;
            _pendingCancel = null;
            return r;
        }
    }

    /// <summary>
    /// The switch: publishes the pending graph <paramref name="g"/> as active with one atomic write
    /// and starts draining the old one, unless <paramref name="g"/> was superseded meanwhile.
    /// <paramref name="sweep"/> yields the handles that take a hint on the old graph from now on.
    /// </summary>
    public bool TryActivate(Graph g, out Graph old, out ChannelReader<IHandle> sweep)
    {
        lock (_sync)
        {
            old = _active;
            sweep = null!;
            if (!ReferenceEquals(_pending, g) || Volatile.Read(ref _closed) != 0) return false;
            _pending = null;
            _pendingCancel?.Dispose();
            _pendingCancel = null;
            var q = Channel.CreateUnbounded<IHandle>(new UnboundedChannelOptions { SingleReader = true });
            _sweeps[old] = q; // before the old graph leaves Active: a hint taken after that finds its queue
            g.Activate();
            // From here new fops enter g; fops already on the old graph finish there, and every
            // handle moves to g on its next use (or the sweep's).
            Volatile.Write(ref _active, g);
            Interlocked.Exchange(ref _switched, NewSignal()).TrySetResult(); // after the write: see NextSwitch
            Interlocked.Increment(ref _retiring);
            old.BeginDraining();
            sweep = q.Reader;
            return true;
        }
    }

    /// <summary>Forgets a destroyed graph.</summary>
    public void Remove(Graph g)
    {
        lock (_sync)
        {
            _all.Remove(g);
            if (_sweeps.Remove(g, out var q))
            {
                q.Writer.TryComplete();
                Interlocked.Decrement(ref _retiring);
            }
        }
    }

    /// <summary>
    /// Stops the set: no fop enters any graph from now on, every graph starts draining, and the
    /// ones still held are returned for the caller to tear down.
    /// </summary>
    public IReadOnlyList<Graph> Close()
    {
        lock (_sync)
        {
            Volatile.Write(ref _closed, 1);
            foreach (var g in _all) g.BeginDraining();
            return [.. _all];
        }
    }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>
    /// Tears <paramref name="g"/> down: waits (bounded) until it is idle, sends PARENT_DOWN and waits
    /// (bounded) for its answer, destroys it and forgets it. False if either wait ran out.
    /// </summary>
    public async Task<bool> DrainAndDestroyAsync(Graph g, TimeSpan bound)
    {
        if (g.State == GraphState.Destroyed) { Remove(g); return true; }
        g.BeginDraining();
        bool timely = true;
        try { await g.Idle.WaitAsync(bound).ConfigureAwait(false); }
        catch (TimeoutException) { timely = false; }
        g.SendParentDown();
        try { await g.ParentDownHandled.WaitAsync(bound).ConfigureAwait(false); }
        catch (TimeoutException) { timely = false; }
        await g.DestroyAsync().ConfigureAwait(false);
        Remove(g);
        return timely;
    }

    public void Dispose() => SwitchLock.Dispose();
}
