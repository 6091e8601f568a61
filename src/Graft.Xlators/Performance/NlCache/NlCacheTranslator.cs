using Graft.Core;

namespace Graft.Xlators.Performance.NlCache;

/// <summary>
/// performance/nl-cache: answers a lookup of a name that is not there (ENOENT) without asking the brick, in a
/// directory whose every name this graph knows — one it made itself (mkdir), or listed whole (readdir or readdirp
/// from the first entry to the end). The kernel looks every new name up before it creates it; that lookup is a
/// round trip of its own per create.
/// </summary>
/// <remarks>
/// What keeps a directory's names true (docs/performance.md, "performance/nl-cache"):
/// - this graph's own creates, mkdirs, links, renames and removals in it update them; a change whose outcome is
///   unknown (a lost connection) forgets the directory;
/// - another client's change to it reaches this graph as the brick's invalidation notice (features/upcall), which
///   forgets the directory. The brick watches the directory for this graph from before the mkdir or the opendir
///   that taught the names, and as long as it is looked at within the brick's <c>expiry</c>: the names answer for
///   <c>timeout</c> only (less than that expiry), and a lookup past half of it goes to the brick, renewing both;
/// - notices are lost with a connection: what was learned on one connection is not believed on the next, and
///   nothing is learned when the brick does not send notices, or when more than one brick is below (a lookup
///   renews the watch of one brick only);
/// - the bricks tell a mount of no change it made itself, through any of its graphs: while another graph of the
///   same mount lives in this process (a switch), neither learns nor answers.
/// </remarks>
public sealed partial class NlCacheTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("performance/nl-cache", () => new NlCacheTranslator(),
    [
        new("timeout", OptionKind.Time, "30", "how long a directory's names answer lookups after they were learned or last renewed (a lookup past half of it goes to the brick and renews them); must be below the bricks' features/upcall expiry")
            { Min = 0, Max = 50_000, Runtime = true },
        new("max-names", OptionKind.Int, "100000", "names (and directories) remembered over every directory; a directory that would take more is not learned, or forgotten")
            { Min = 0, Max = 1 << 24, Runtime = true },
        new("enable", OptionKind.Bool, "on", "off: every lookup goes below, and what was learned is forgotten") { Runtime = true },
    ], "answers lookups of absent names in directories whose every name it knows, kept true by the bricks' invalidation notices")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private long _timeoutMs;
    private int _maxNames;
    private volatile bool _enabled = true;
    private long _hits, _learned, _forgotten, _renewals;
    private INoticeSource? _source;
    private bool _sourceFound;
    private Siblings? _siblings;

    /// <summary>The live nl-caches of one mount over every graph of this process (by the identity the bricks know it by).</summary>
    private sealed class Siblings { public int Live; }
    private static readonly Dictionary<Guid, Siblings> Mounts = new();   // guarded by itself

    /// <summary>Lookups answered ENOENT here.</summary>
    public long Hits => Interlocked.Read(ref _hits);
    /// <summary>Directories whose every name was learned (by mkdir or a whole listing).</summary>
    public long Learned => Interlocked.Read(ref _learned);
    /// <summary>Directories forgotten (for a notice, a change of unknown outcome, a new connection, the name budget) or given up learning.</summary>
    public long Forgotten => Interlocked.Read(ref _forgotten);
    /// <summary>Lookups sent below to renew a directory's names (and the brick's watch).</summary>
    public long Renewals => Interlocked.Read(ref _renewals);

    protected override void ApplyOptions(OptionValues o)
    {
        Volatile.Write(ref _timeoutMs, o.GetLong("timeout"));
        Volatile.Write(ref _maxNames, o.GetInt("max-names"));
        _enabled = o.GetBool("enable");
        if (!_enabled || Volatile.Read(ref _timeoutMs) == 0) ForgetAll();
    }

    /// <summary>
    /// One directory: learning (a mkdir or a listing is in flight) or known (its names answer until <see cref="ValidUntilMs"/>).
    /// Guarded by <see cref="_dirs"/>.
    /// </summary>
    private sealed class Dir(long run)
    {
        public readonly HashSet<string> Names = new(StringComparer.Ordinal);
        public readonly long Run = run;       // the notice run it is learned in
        public bool Known;
        public long ValidUntilMs;             // known: answers until then; learning: given up on after then
        public int Removals;                  // own removals while learning: a listing in flight may have read them
        public bool Renewing;                 // a lookup that renews it is in flight
    }

    private readonly Dictionary<Gfid, Dir> _dirs = new();   // guarded by itself
    private int _held;                                       // names and directories held, guarded by _dirs

    /// <summary>
    /// The one notice source below, or null when there is none or more than one (then nothing is learned). Found on
    /// first use: the graph is wired by then.
    /// </summary>
    private INoticeSource? Source
    {
        get
        {
            if (Volatile.Read(ref _sourceFound)) return _source;
            lock (Mounts)
            {
                if (_sourceFound) return _source;
                var leaves = new List<Translator>();
                Leaves(this, leaves);
                if (leaves is [INoticeSource one])
                {
                    if (!Mounts.TryGetValue(one.Mount, out var s)) Mounts[one.Mount] = s = new Siblings();
                    s.Live++;
                    _siblings = s;
                    _source = one;
                }
                Volatile.Write(ref _sourceFound, true);
                return _source;
            }
        }
    }

    public override ValueTask FiniAsync()
    {
        lock (Mounts)
        {
            if (_siblings is { } s && --s.Live == 0) Mounts.Remove(_source!.Mount);
            _siblings = null;
            _source = null;
            Volatile.Write(ref _sourceFound, true);   // a fop after this learns nothing
        }
        ForgetAll();
        return base.FiniAsync();
    }

    private static void Leaves(Translator t, List<Translator> into)
    {
        if (t.Children.Count == 0) { into.Add(t); return; }
        foreach (var c in t.Children) Leaves(c, into);
    }

    /// <summary>The notice run learning may rely on now; 0: learn nothing.</summary>
    private long Run() =>
        _enabled && Volatile.Read(ref _timeoutMs) > 0 && Source is { } s && _siblings is { } sib && Volatile.Read(ref sib.Live) == 1 ? s.NoticeRun : 0;

    private static bool Ordinary(string? name) => name is not null and not "." and not "..";

    /// <summary>Forgets <paramref name="gfid"/>'s names. Caller holds <see cref="_dirs"/>.</summary>
    private void ForgetLocked(Gfid gfid)
    {
        if (!_dirs.Remove(gfid, out var d)) return;
        _held -= d.Names.Count + 1;
        Interlocked.Increment(ref _forgotten);
    }

    private void Forget(Gfid gfid)
    {
        if (gfid.IsZero) return;
        lock (_dirs) ForgetLocked(gfid);
    }

    private void ForgetAll()
    {
        lock (_dirs)
        {
            _dirs.Clear();
            _held = 0;
        }
    }

    /// <summary>
    /// Starts learning <paramref name="gfid"/> (before the mkdir or the listing that teaches it), or null when it is
    /// known or being learned already, or there is no room.
    /// </summary>
    private Dir? BeginLearning(Gfid gfid, long run, long now)
    {
        if (run == 0 || gfid.IsZero) return null;
        lock (_dirs)
        {
            if (_dirs.TryGetValue(gfid, out var old))
            {
                if (old.Run == run && now < old.ValidUntilMs) return null;
                ForgetLocked(gfid);   // stale: learned on an older connection, expired, or an abandoned learning
            }
            if (!Room(1)) return null;
            var d = new Dir(run) { ValidUntilMs = now + Volatile.Read(ref _timeoutMs) };
            _dirs[gfid] = d;
            _held++;
            return d;
        }
    }

    /// <summary>
    /// What the mkdir or listing begun at <paramref name="startedMs"/> taught: <paramref name="d"/> becomes known with
    /// <paramref name="names"/>, unless a notice or an own removal came meanwhile, or the connection changed.
    /// </summary>
    private void FinishLearning(Gfid gfid, Dir d, long startedMs, IEnumerable<string>? names)
    {
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(gfid, out var cur) || !ReferenceEquals(cur, d)) return;
            if (d.Removals != 0 || Run() != d.Run) { ForgetLocked(gfid); return; }
            foreach (var n in names ?? [])
            {
                if (!d.Names.Add(n)) continue;
                _held++;
            }
            if (_held > Volatile.Read(ref _maxNames)) { ForgetLocked(gfid); return; }
            d.Known = true;
            d.ValidUntilMs = startedMs + Volatile.Read(ref _timeoutMs);
        }
        Interlocked.Increment(ref _learned);
    }

    /// <summary>Gives up learning <paramref name="gfid"/> with <paramref name="d"/> (the mkdir or the listing failed).</summary>
    private void AbandonLearning(Gfid gfid, Dir d)
    {
        lock (_dirs)
            if (_dirs.TryGetValue(gfid, out var cur) && ReferenceEquals(cur, d)) ForgetLocked(gfid);
    }

    /// <summary>Room for <paramref name="more"/> names within max-names, after dropping what has expired. Caller holds <see cref="_dirs"/>.</summary>
    private bool Room(int more)
    {
        int max = Volatile.Read(ref _maxNames);
        if (_held + more <= max) return true;
        long now = Environment.TickCount64;
        List<Gfid>? stale = null;
        foreach (var (g, d) in _dirs) if (now >= d.ValidUntilMs) (stale ??= []).Add(g);
        foreach (var g in stale ?? []) ForgetLocked(g);
        return _held + more <= max;
    }

    private enum Verdict { Ask, Absent, Renew }

    /// <summary>Whether a lookup of <paramref name="name"/> in <paramref name="parent"/> is answered here.</summary>
    private Verdict Judge(Gfid parent, string name, long now, out Dir? dir)
    {
        dir = null;
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(parent, out var d) || !d.Known) return Verdict.Ask;
            if (now >= d.ValidUntilMs || Run() != d.Run) { ForgetLocked(parent); return Verdict.Ask; }
            if (d.Names.Contains(name)) return Verdict.Ask;
            dir = d;
            if (d.Renewing || now < d.ValidUntilMs - Volatile.Read(ref _timeoutMs) / 2) return Verdict.Absent;
            d.Renewing = true;
            return Verdict.Renew;
        }
    }

    /// <summary>A renewing lookup sent at <paramref name="sentMs"/> came back: ENOENT extends the names' life from then.</summary>
    private void Renewed(Gfid parent, Dir d, long sentMs, in Result<Iatt> r)
    {
        lock (_dirs)
        {
            d.Renewing = false;
            if (!_dirs.TryGetValue(parent, out var cur) || !ReferenceEquals(cur, d)) return;
            if (r.Ok) ForgetLocked(parent);   // a name we did not know: something was missed
            else if (r.Error == Errno.ENOENT && Run() == d.Run) d.ValidUntilMs = sentMs + Volatile.Read(ref _timeoutMs);
        }
    }

    /// <summary>An own change made <paramref name="name"/> appear in <paramref name="parent"/>.</summary>
    private void Added(Gfid parent, string? name)
    {
        if (!Ordinary(name)) return;
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(parent, out var d) || !d.Names.Add(name!)) return;
            _held++;
            if (_held > Volatile.Read(ref _maxNames)) ForgetLocked(parent);
        }
    }

    /// <summary>An own change made <paramref name="name"/> go from <paramref name="parent"/>.</summary>
    private void Removed(Gfid parent, string? name)
    {
        if (!Ordinary(name)) return;
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(parent, out var d)) return;
            if (d.Names.Remove(name!)) _held--;
            if (!d.Known) d.Removals++;
        }
    }
}
