namespace Graft.Core;

/// <summary>
/// One node of a graph. Implements the fops (see Translator.Fops.cs) by passing them to its
/// children; a translator overrides only the fops it changes.
/// </summary>
public abstract partial class Translator
{
    private readonly List<Translator> _children = [];
    private readonly List<Translator> _parents = [];
    private int _childrenDownHandled;
    private int _parentDownSeen;
    private readonly HashSet<Translator?> _parentsDown = [];

    /// <summary>The volume name from the volfile.</summary>
    public string Name { get; internal set; } = "";
    /// <summary>The type name from the volfile ("storage/posix").</summary>
    public string Type { get; internal set; } = "";
    /// <summary>Position in the graph: the index of this translator's context slot on inodes and fds.</summary>
    public int Index { get; internal set; }
    public Graph? Graph { get; internal set; }
    public OptionValues Options { get; internal set; } = new([], new Dictionary<string, string>());
    public IReadOnlyList<Translator> Children => _children;
    public IReadOnlyList<Translator> Parents => _parents;
    public Translator? FirstChild => _children.Count > 0 ? _children[0] : null;

    /// <summary>Wires <paramref name="child"/> below this translator (graph building and tests).</summary>
    public void AddChild(Translator child)
    {
        _children.Add(child);
        child._parents.Add(this);
    }

    /// <summary>
    /// Bytes this translator has acknowledged to its parent but not yet passed to its children
    /// (write-behind's window). State dumps sum it per graph; 0 for translators that hold none.
    /// </summary>
    public virtual long BytesHeld => 0;

    /// <summary>
    /// The settle contract: completes once every write that this translator, or any translator below
    /// it, acknowledged for <paramref name="inode"/> before the call has gone all the way down, so
    /// another graph over the same bricks sees those bytes. A translator that acknowledges writes
    /// before its children have them (write-behind) overrides this: its own queue first, then the
    /// children's. The default holds nothing and asks every child (each child of a cluster translator
    /// may hold writes). Not a fop: it never leaves the process — a brick acknowledges a write only
    /// once any client can read it. The mount session settles older graphs this way before a newer
    /// one observes a file (GraphSet.SettleOlderAsync in Graft.Mount); no translator's answer to another fop is relied on.
    /// </summary>
    public virtual ValueTask SettleAsync(Inode inode) => _children.Count switch
    {
        0 => ValueTask.CompletedTask,
        1 => _children[0].SettleAsync(inode),
        _ => SettleChildrenAsync(inode),
    };

    private async ValueTask SettleChildrenAsync(Inode inode)
    {
        foreach (var c in _children) await c.SettleAsync(inode).ConfigureAwait(false);
    }

    /// <summary>
    /// This translator's own counters for state dumps (`graft state` lists them per graph under the
    /// translator's name), or null when it keeps none. Keys are camelCase and, once shown, never renamed.
    /// </summary>
    public virtual IReadOnlyDictionary<string, long>? Counters => null;

    /// <summary>Called once, bottom-up, after options are set. Throw for bad configuration.</summary>
    public virtual ValueTask InitAsync(CancellationToken ct)
    {
        ApplyOptions(Options);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Takes option values into this translator's own fields: called by the default
    /// <see cref="InitAsync"/> with the volfile's values and by the default <see cref="Reconfigure"/>
    /// with new run-time values. Throw for values that cannot work together.
    /// </summary>
    protected virtual void ApplyOptions(OptionValues options) { }

    /// <summary>Called once when the graph is destroyed, top-down: free what <see cref="InitAsync"/> took.</summary>
    public virtual ValueTask FiniAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Applies new values of options marked <see cref="OptionSpec.Runtime"/>, without rebuilding the
    /// graph. The default takes the new values as they are, for translators that read
    /// <see cref="Options"/> at each use.
    /// </summary>
    public virtual Errno Reconfigure(OptionValues newOptions)
    {
        ApplyOptions(newOptions);
        Options = newOptions;
        return Errno.OK;
    }

    /// <summary>
    /// An event from a child (<paramref name="from"/> is that child) or from a parent
    /// (<paramref name="from"/> is that parent, or null when the graph sends it to the top). The
    /// default passes CHILD_* to the parents and PARENT_UP to the children; a translator with no
    /// children answers PARENT_UP with CHILD_UP at once (a leaf that must connect first, such as a
    /// protocol client, overrides this and sends CHILD_UP when it is ready). PARENT_DOWN drains
    /// this translator (<see cref="DrainAsync"/>) once every parent has sent it, then goes to the
    /// children; PARENT_DOWN_HANDLED goes to every parent once every child has answered.
    /// </summary>
    public virtual void Notify(GraphEvent ev, Translator? from)
    {
        switch (ev)
        {
            case GraphEvent.ChildUp:
            case GraphEvent.ChildDown:
            case GraphEvent.ChildReset:
                NotifyParents(ev);
                break;
            case GraphEvent.ParentUp:
                if (_children.Count == 0) NotifyParents(GraphEvent.ChildUp);
                else NotifyChildren(ev);
                break;
            case GraphEvent.ParentDown:
                if (AllParentsDown(from)) _ = HandleParentDownAsync();
                break;
            case GraphEvent.ParentDownHandled:
                // Children answer only after this translator has drained and passed PARENT_DOWN
                // on (they wait for all their parents), so counting them is enough.
                if (Interlocked.Increment(ref _childrenDownHandled) == _children.Count)
                    NotifyParents(GraphEvent.ParentDownHandled);
                break;
        }
    }

    // A child shared by several parents stays in use until the last of them is down, so it
    // drains only then (each parent counts the answer it later gets). A repeated PARENT_DOWN
    // from the same parent counts once, so it can neither drain twice nor drain early.
    private bool AllParentsDown(Translator? from)
    {
        if (_parents.Count <= 1) return Interlocked.Exchange(ref _parentDownSeen, 1) == 0;
        lock (_parentsDown)
        {
            return _parentsDown.Add(from) && _parentsDown.Count == _parents.Count;
        }
    }

    /// <summary>
    /// PARENT_DOWN: finish or fail this translator's own background work (write-behind flushes,
    /// connections, timers). Runs before PARENT_DOWN goes further down.
    /// </summary>
    protected virtual ValueTask DrainAsync() => ValueTask.CompletedTask;

    private async Task HandleParentDownAsync()
    {
        // A drain that fails is logged and counts as done: retirement must go on (the graph is
        // going away either way), and a stuck one is bounded by the caller's retirement timeout.
        try { await DrainAsync().ConfigureAwait(false); }
        catch (Exception e) { Graph?.ReportError(this, "drain failed", e); }
        if (_children.Count == 0) NotifyParents(GraphEvent.ParentDownHandled);
        else NotifyChildren(GraphEvent.ParentDown);
    }

    /// <summary>
    /// An invalidation notice from below (protocol/client got it from a brick): what another client changed. The
    /// default passes it to every parent, and the top hands it to the graph (<see cref="Graph.Upcall"/>); a cache
    /// drops what it holds of the object, then passes it on. Must not block: it runs on a connection's reader.
    /// </summary>
    public virtual void Upcall(in UpcallNotice notice, Translator from) => NotifyUpcall(notice);

    /// <summary>Sends a notice to every parent (or to the graph, for the top).</summary>
    protected void NotifyUpcall(in UpcallNotice notice)
    {
        if (_parents.Count == 0) Graph?.OnUpcall(notice, this);
        foreach (var p in _parents)
        {
            try { p.Upcall(notice, this); }
            catch (Exception e) { (Graph ?? p.Graph)?.ReportError(p, "upcall failed", e); }
        }
    }

    /// <summary>Sends an event to every parent (or to the graph, for the top).</summary>
    protected void NotifyParents(GraphEvent ev)
    {
        if (_parents.Count == 0) Graph?.OnTopEvent(ev, this);
        foreach (var p in _parents) Deliver(p, ev);
    }

    /// <summary>Sends an event to every child, as coming from this translator.</summary>
    protected void NotifyChildren(GraphEvent ev)
    {
        foreach (var c in _children) Deliver(c, ev);
    }

    // One translator's buggy Notify must not keep the event from its siblings (a lost
    // PARENT_DOWN_HANDLED would hold the graph until the retirement bound), nor escape into a
    // fire-and-forget drain task where nobody would see it.
    private void Deliver(Translator to, GraphEvent ev)
    {
        try { to.Notify(ev, this); }
        catch (Exception e) { (Graph ?? to.Graph)?.ReportError(to, $"notify {ev} failed", e); }
    }

    public override string ToString() => $"{Type} '{Name}'";
}
