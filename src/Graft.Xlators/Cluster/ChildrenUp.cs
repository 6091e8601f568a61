using Graft.Core;

namespace Graft.Xlators.Cluster;

/// <summary>
/// Which children of a cluster translator are up, and when to tell its parents: CHILD_UP once
/// every child is up, or once one is and <c>subvolume-wait</c> has passed (so a new graph becomes
/// active with all its bricks connected, and a brick that is down does not keep the volume from
/// mounting); CHILD_DOWN when the last child goes down. Shared by distribute and replicate.
/// </summary>
/// <param name="tell">sends an event to the translator's parents (never called under the lock).</param>
/// <param name="partlyUp">called when the wait ran out with some children still down.</param>
internal sealed class ChildrenUp(IReadOnlyList<Translator> children, long waitMs, Action<GraphEvent> tell, Action? partlyUp = null) : IDisposable
{
    private readonly bool[] _up = new bool[children.Count];
    private readonly object _sync = new();
    private int _count;
    // Children 0..31 as bits, for the translators whose sets of children are masks (replicate).
    private int _mask;
    private bool _sent;
    private Timer? _timer;

    /// <summary>Children 0..31 that are up, as a bit mask.</summary>
    public uint Mask => (uint)Volatile.Read(ref _mask);

    public bool IsUp(int i) { lock (_sync) return _up[i]; }

    public bool AllUp { get { lock (_sync) return _count == _up.Length; } }

    /// <summary>How many of the children are up.</summary>
    public int Count { get { lock (_sync) return _count; } }

    /// <summary>
    /// Takes a child's CHILD_UP or CHILD_DOWN into account and tells the parents what they must hear.
    /// Returns the child's index, or -1 when <paramref name="ev"/> is not a child's up or down (the
    /// caller passes it on as usual).
    /// </summary>
    public int Notify(GraphEvent ev, Translator? from)
    {
        if (from is null || ev is not (GraphEvent.ChildUp or GraphEvent.ChildDown)) return -1;
        int i = IndexOf(from);
        if (i < 0) return -1;
        GraphEvent? send = null;
        lock (_sync)
        {
            bool up = ev == GraphEvent.ChildUp;
            if (_up[i] != up) _count += up ? 1 : -1;
            _up[i] = up;
            if (i < 32) Volatile.Write(ref _mask, up ? _mask | (1 << i) : _mask & ~(1 << i));
            if (!_sent && _count == _up.Length) { _sent = true; send = GraphEvent.ChildUp; }
            else if (!_sent && _count == 1 && up)
                _timer ??= new Timer(_ => WaitOver(), null, waitMs, Timeout.Infinite);
            else if (_sent && _count == 0) { _sent = false; send = GraphEvent.ChildDown; }
        }
        if (send is { } s) tell(s);
        return i;
    }

    private void WaitOver()
    {
        lock (_sync)
        {
            if (_sent || _count == 0) return;
            _sent = true;
        }
        partlyUp?.Invoke();
        tell(GraphEvent.ChildUp);
    }

    private int IndexOf(Translator t)
    {
        for (int i = 0; i < children.Count; i++) if (ReferenceEquals(children[i], t)) return i;
        return -1;
    }

    public void Dispose() => _timer?.Dispose();
}
