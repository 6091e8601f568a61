using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Graft.Core;

public enum GraphState { Starting, Active, Draining, Destroyed }

/// <summary>
/// A tree of translators built from one volfile, with a generation number, its own inode
/// table and a count of fops in flight on it. Its top is the last volume in the volfile.
/// </summary>
public sealed partial class Graph
{
    private readonly TaskCompletionSource _childUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _parentDownHandled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _setupFailure = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _setupFailureText;
    private readonly TaskCompletionSource _destroyedTcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _fopsInFlight;
    private long _hints;
    private int _state;
    private int _parentDownSent;
    private int _destroyed;
    private bool _isChildUp;
    private TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously); // this up period's signal; guarded by _upSync
    private readonly object _upSync = new();

    public Graph(long generation, IReadOnlyList<Translator> translators, string? volfileText = null,
                 int inodeLruLimit = 16384, ILoggerFactory? loggers = null)
    {
        if (translators.Count == 0) throw new ArgumentException("a graph needs at least one translator");
        Generation = generation;
        Translators = translators;
        Top = translators[^1];
        VolfileText = volfileText;
        Loggers = loggers ?? NullLoggerFactory.Instance;
        Log = Loggers.CreateLogger("Graft.Graph");
        for (int i = 0; i < translators.Count; i++)
        {
            translators[i].Index = i;
            translators[i].Graph = this;
        }
        Inodes = new InodeTable(inodeLruLimit, this, translators.Count);
        Inodes.Purged += inode => { foreach (var t in Translators) t.Forget(inode); };
    }

    public long Generation { get; }

    /// <summary>The identity of this process when it acts as one mount (the default of <see cref="MountId"/>).</summary>
    public static Guid ProcessMountId { get; } = Guid.NewGuid();

    /// <summary>
    /// The mount this graph serves (DESIGN invariant 9): bricks own locks per mount, and protocol/client
    /// presents it at connect. Set before <see cref="InitAsync"/>; every graph of one mount session has the same.
    /// </summary>
    public Guid MountId { get; set; } = ProcessMountId;
    public IReadOnlyList<Translator> Translators { get; }
    public Translator Top { get; }
    public InodeTable Inodes { get; }
    /// <summary>The volfile this graph runs (updated by <see cref="Reconfigure"/>).</summary>
    public string? VolfileText { get; private set; }
    public ILoggerFactory Loggers { get; }
    private ILogger Log { get; }

    /// <summary>
    /// Starting → Active → Draining → Destroyed, changed only by <see cref="Activate"/>,
    /// <see cref="BeginDraining"/> and <see cref="DestroyAsync"/> (a graph never goes back).
    /// </summary>
    public GraphState State => (GraphState)Volatile.Read(ref _state);

    public long FopsInFlight => Interlocked.Read(ref _fopsInFlight);

    /// <summary>Handles outside the graph (a mount's nodes and open files) whose hint points into it; see <see cref="AddHint"/>.</summary>
    public long Hints => Interlocked.Read(ref _hints);

    /// <summary>
    /// Completes once the graph is draining and neither a fop nor a hint holds it any more: it is
    /// signalled by whoever leaves last (<see cref="ExitFop"/>, <see cref="DropHint"/>, or
    /// <see cref="BeginDraining"/> when nothing held it), so nobody has to poll for it.
    /// </summary>
    public Task Idle => _idle.Task;

    /// <summary>Starting → Active. False if the graph already left Starting.</summary>
    public bool Activate() => Interlocked.CompareExchange(ref _state, (int)GraphState.Active, (int)GraphState.Starting) == (int)GraphState.Starting;

    /// <summary>
    /// Starting or Active → Draining: no new fop may start on the graph, and <see cref="Idle"/>
    /// completes when the last fop and hint leave it. False if it was draining or destroyed already.
    /// </summary>
    public bool BeginDraining()
    {
        while (true)
        {
            var s = Volatile.Read(ref _state);
            if (s is (int)GraphState.Draining or (int)GraphState.Destroyed) return false;
            // Interlocked: a full fence between the state and the counts it reads (see ExitFop).
            if (Interlocked.CompareExchange(ref _state, (int)GraphState.Draining, s) != s) continue;
            SignalIfIdle();
            return true;
        }
    }

    /// <summary>Completes when the top reports CHILD_UP (its children can serve).</summary>
    public Task ChildUp => _childUp.Task;
    public bool IsChildUp => Volatile.Read(ref _isChildUp);

    /// <summary>
    /// Completes when the top is up: already completed while it is, otherwise at its next CHILD_UP.
    /// Unlike <see cref="ChildUp"/> (the first time only) every CHILD_DOWN starts a new one, so a
    /// caller that sees the graph down after a reconnect waits for that reconnect.
    /// </summary>
    public Task WhenUp { get { lock (_upSync) return _up.Task; } }

    /// <summary>Completes when PARENT_DOWN_HANDLED reaches the top after <see cref="SendParentDown"/>.</summary>
    public Task ParentDownHandled => _parentDownHandled.Task;

    /// <summary>
    /// Completes when <see cref="DestroyAsync"/> has run every translator's fini. <see cref="State"/>
    /// says Destroyed from the start of the teardown; what the translators record as they go (e.g.
    /// write-behind's lost data) is all there once this completes.
    /// </summary>
    public Task Destroyed => _destroyedTcs.Task;

    /// <summary>Counts a fop in flight on this graph. Pair with <see cref="ExitFop"/>.</summary>
    public void EnterFop() => Interlocked.Increment(ref _fopsInFlight);

    public void ExitFop()
    {
        // Each side changes its own count with a full fence and then reads the other's, so of a
        // last exit and a draining start (or a last hint drop) at least one sees the other.
        if (Interlocked.Decrement(ref _fopsInFlight) == 0 && Volatile.Read(ref _state) >= (int)GraphState.Draining) SignalIfIdle();
    }

    /// <summary>
    /// Counts a handle from outside (a node's inode, an open file's fd) that points into this
    /// graph: a draining graph is not idle while one does. Pair with <see cref="DropHint"/>.
    /// </summary>
    public void AddHint() => Interlocked.Increment(ref _hints);

    public void DropHint()
    {
        if (Interlocked.Decrement(ref _hints) == 0 && Volatile.Read(ref _state) >= (int)GraphState.Draining) SignalIfIdle();
    }

    private void SignalIfIdle()
    {
        if (Interlocked.Read(ref _fopsInFlight) == 0 && Interlocked.Read(ref _hints) == 0) _idle.TrySetResult();
    }

    public Translator? Find(string name)
    {
        foreach (var t in Translators) if (t.Name == name) return t;
        return null;
    }

    /// <summary>Initialises every translator bottom-up (children before parents).</summary>
    public async Task InitAsync(CancellationToken ct)
    {
        foreach (var t in Translators) await t.InitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>PARENT_UP from the top: translators start (connect, ...) and answer CHILD_UP when ready.</summary>
    public void Start() => Top.Notify(GraphEvent.ParentUp, null);

    /// <summary>
    /// Initialises, starts, and waits (bounded) until the graph's children are up. False when they
    /// are not up in time, or as soon as a translator reports a <see cref="SetupFailure"/>.
    /// </summary>
    public async Task<bool> StartAndWaitAsync(TimeSpan childUpTimeout, CancellationToken ct)
    {
        await InitAsync(ct).ConfigureAwait(false);
        Start();
        try { await Task.WhenAny(ChildUp, _setupFailure.Task).WaitAsync(childUpTimeout, ct).ConfigureAwait(false); }
        catch (TimeoutException) { return false; }
        return ChildUp.IsCompleted;
    }

    /// <summary>
    /// The first reason a translator gave for why its child can never come up as configured (a brick
    /// that refused this client's credentials, a TLS mismatch), or null. Waiting longer would not help,
    /// so <see cref="StartAndWaitAsync"/> stops waiting and a front end can print it.
    /// </summary>
    public string? SetupFailure => Volatile.Read(ref _setupFailureText);

    /// <summary>Reports a <see cref="SetupFailure"/>; the first one is kept.</summary>
    public void ReportSetupFailure(Translator xl, string message)
    {
        // The text first: whoever the completion wakes reads it at once.
        if (Interlocked.CompareExchange(ref _setupFailureText, $"{xl.Name}: {message}", null) is null) _setupFailure.TrySetResult();
    }

    /// <summary>PARENT_DOWN from the top; <see cref="ParentDownHandled"/> completes when every translator has drained.</summary>
    public void SendParentDown()
    {
        if (Interlocked.Exchange(ref _parentDownSent, 1) == 0) Top.Notify(GraphEvent.ParentDown, null);
    }

    /// <summary>Frees the graph: fini on every translator (top first) and the inode table.</summary>
    public async Task DestroyAsync()
    {
        // Once only: retirement and unmount can both reach a graph's end.
        if (Interlocked.Exchange(ref _destroyed, 1) != 0) return;
        Volatile.Write(ref _state, (int)GraphState.Destroyed);
        try
        {
            for (int i = Translators.Count - 1; i >= 0; i--)
            {
                try { await Translators[i].FiniAsync().ConfigureAwait(false); }
                catch (Exception e) { ReportError(Translators[i], "fini failed", e); }
            }
            Inodes.Clear();
        }
        finally { _destroyedTcs.TrySetResult(); }
    }

    /// <summary>Raised for every event that reaches the top from below.</summary>
    public event Action<GraphEvent>? TopEvent;

    internal void OnTopEvent(GraphEvent ev, Translator from)
    {
        switch (ev)
        {
            case GraphEvent.ChildUp: SetUp(true); _childUp.TrySetResult(); break;
            case GraphEvent.ChildDown: SetUp(false); break;
            case GraphEvent.ParentDownHandled: _parentDownHandled.TrySetResult(); break;
        }
        // A subscriber's bug must not unwind into the translator that sent the event.
        try { TopEvent?.Invoke(ev); }
        catch (Exception e) { ReportError(from, $"top event handler for {ev} failed", e); }
    }

    private void SetUp(bool up)
    {
        TaskCompletionSource signal;
        lock (_upSync)
        {
            Volatile.Write(ref _isChildUp, up);
            if (!up)
            {
                if (_up.Task.IsCompleted) _up = new(TaskCreationOptions.RunContinuationsAsynchronously);
                return;
            }
            signal = _up;
        }
        signal.TrySetResult(); // continuations run elsewhere, but complete it outside the lock anyway
    }

    /// <summary>Raised for every invalidation notice that reaches the top (another client changed something; the
    /// mount session tells the kernel). Runs on a connection's reader thread: must not block.</summary>
    public event Action<UpcallNotice>? Upcall;

    internal void OnUpcall(in UpcallNotice notice, Translator from)
    {
        try { Upcall?.Invoke(notice); }
        catch (Exception e) { ReportError(from, "upcall handler failed", e); }
    }

    /// <summary>Logs a translator failure that has no caller to return an errno to (background work).</summary>
    public void ReportError(Translator xl, string what, Exception e) =>
        Log.LogError(e, "graph {Generation}: {Xlator}: {What}", Generation, xl.Name, what);

    public override string ToString() => $"graph {Generation} ({State})";
}
