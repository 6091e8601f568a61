namespace Graft.Core;

// Whether the bricks below tell this graph what other clients change (features/upcall): a front end may then let
// its caches (the kernel's entry and attribute caches) live longer than it could without notices.
public sealed partial class Graph
{
    private INoticeSource[]? _noticeSources;   // found once, on first use (the graph is wired by then); empty: none

    /// <summary>
    /// True while every leaf below <see cref="Top"/> is a notice source (protocol/client) whose brick sends it
    /// invalidation notices on its current connection; false for a graph with any other leaf (a local storage/posix)
    /// or while any connection is down or was made without notices.
    /// </summary>
    public bool NoticesComing
    {
        get
        {
            var sources = Volatile.Read(ref _noticeSources) ?? FindNoticeSources();
            if (sources.Length == 0) return false;
            foreach (var s in sources)
                if (s.NoticeRun == 0) return false;
            return true;
        }
    }

    /// <summary>
    /// A number that changes whenever the runs of notices below change (a connection lost or made again, notices
    /// granted or not): notices are lost with a connection, so what was cached on their word before may be stale.
    /// </summary>
    public long NoticeRuns
    {
        get
        {
            var sources = Volatile.Read(ref _noticeSources) ?? FindNoticeSources();
            long runs = 0;
            foreach (var s in sources) runs = runs * 31 + s.NoticeRun;
            return runs;
        }
    }

    private INoticeSource[] FindNoticeSources()
    {
        var leaves = new List<Translator>();
        var seen = new HashSet<Translator>(ReferenceEqualityComparer.Instance);
        Leaves(Top, leaves, seen);
        INoticeSource[] sources = leaves.TrueForAll(t => t is INoticeSource) ? [.. leaves.Cast<INoticeSource>()] : [];
        Volatile.Write(ref _noticeSources, sources);
        return sources;

        static void Leaves(Translator t, List<Translator> into, HashSet<Translator> seen)
        {
            if (!seen.Add(t)) return;
            if (t.Children.Count == 0) { into.Add(t); return; }
            foreach (var c in t.Children) Leaves(c, into, seen);
        }
    }
}
