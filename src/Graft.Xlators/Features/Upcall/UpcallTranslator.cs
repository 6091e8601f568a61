using Graft.Core;

namespace Graft.Xlators.Features.Upcall;

/// <summary>
/// features/upcall (brick side, under protocol/server): remembers which client sessions recently looked at each
/// object, and when another session changes it — data, attributes, xattrs, a name in a directory — sends each of
/// them an invalidation notice (<see cref="UpcallNotice"/>) over its own connection, so its caches (md-cache, the
/// kernel's) drop what went stale instead of serving it until a timeout. Only sessions that asked for notices at
/// their handshake are remembered (<see cref="FopContext.Upcalls"/>); the mount that made a change (through any of
/// its sessions: one per graph generation) is never told of it.
/// </summary>
/// <remarks>
/// Memory is bounded: at most <c>max-inodes</c> objects with at most <c>max-clients-per-inode</c> sessions each,
/// each remembered for <c>expiry</c> after its last look. A session pushed out early (a full table) is sent a
/// notice for that object at once, so what it cached is dropped rather than trusted past the point where it would
/// hear of a change. The one thing that notice cannot drop is the kernel's cache of names inside a directory
/// (FUSE can only drop a name it is told), which then lasts until the kernel's entry timeout.
/// </remarks>
public sealed partial class UpcallTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("features/upcall", () => new UpcallTranslator(),
    [
        new("enable", OptionKind.Bool, "on", "off: nothing is remembered and no notices are sent") { Runtime = true },
        new("expiry", OptionKind.Time, "60", "how long a session that looked at an object is told of changes to it; must exceed the clients' cache timeouts")
            { Min = 1000, Max = 3_600_000, Runtime = true },
        new("max-inodes", OptionKind.Int, "65536", "objects remembered at most; past it the oldest are dropped, their sessions notified")
            { Min = 16, Max = 16_777_216, Runtime = true },
        new("max-clients-per-inode", OptionKind.Int, "64", "sessions remembered per object at most; past it the one remembered longest is notified and dropped")
            { Min = 1, Max = 4096, Runtime = true },
    ], "tells clients what other clients changed of what they looked at (invalidation notices)")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private volatile bool _enabled = true;
    private long _expiryMs;
    private int _maxInodes, _maxClients;
    private long _sent, _evicted;

    private readonly object _sync = new();
    private readonly Dictionary<Gfid, Watchers> _table = new();   // guarded by _sync

    /// <summary>Notices queued to sessions.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Objects currently remembered.</summary>
    public int Remembered { get { lock (_sync) return _table.Count; } }

    public override IReadOnlyDictionary<string, long>? Counters => new Dictionary<string, long>
    {
        ["sent"] = Sent, ["remembered"] = Remembered, ["evicted"] = Interlocked.Read(ref _evicted),
    };

    protected override void ApplyOptions(OptionValues o)
    {
        _enabled = o.GetBool("enable");
        Volatile.Write(ref _expiryMs, o.GetLong("expiry"));
        Volatile.Write(ref _maxInodes, o.GetInt("max-inodes"));
        Volatile.Write(ref _maxClients, o.GetInt("max-clients-per-inode"));
        if (!_enabled) lock (_sync) _table.Clear();
    }

    /// <summary>The sessions that looked at one object, each until its look expires. Guarded by <see cref="_sync"/>.</summary>
    private sealed class Watchers
    {
        public IUpcallSink[] Sinks = new IUpcallSink[2];
        public long[] Until = new long[2];
        public int Count;
        public long Newest; // the latest Until: an object whose every look expired can go

        public void Touch(IUpcallSink sink, long until, int max, ref List<IUpcallSink>? pushedOut)
        {
            Newest = until;
            for (int i = 0; i < Count; i++)
                if (ReferenceEquals(Sinks[i], sink)) { Until[i] = until; return; }
            if (Count == max)
            {
                int oldest = 0;
                for (int i = 1; i < Count; i++) if (Until[i] < Until[oldest]) oldest = i;
                (pushedOut ??= []).Add(Sinks[oldest]);
                Sinks[oldest] = sink; Until[oldest] = until;
                return;
            }
            if (Count == Sinks.Length)
            {
                Array.Resize(ref Sinks, Math.Min(Count * 2, Math.Max(max, 2)));
                Array.Resize(ref Until, Sinks.Length);
            }
            Sinks[Count] = sink; Until[Count] = until; Count++;
        }
    }

    /// <summary><paramref name="sink"/> looked at <paramref name="gfid"/>: tell it of changes for the next <c>expiry</c>.</summary>
    private void Look(IUpcallSink? sink, Gfid gfid)
    {
        if (sink is null || gfid.IsZero || !_enabled) return;
        long until = Environment.TickCount64 + Volatile.Read(ref _expiryMs);
        List<IUpcallSink>? pushedOut = null;
        List<(Gfid, IUpcallSink[])>? evicted = null;
        lock (_sync)
        {
            if (!_table.TryGetValue(gfid, out var w))
            {
                if (_table.Count >= Volatile.Read(ref _maxInodes)) evicted = MakeRoomLocked();
                _table[gfid] = w = new Watchers();
            }
            w.Touch(sink, until, Volatile.Read(ref _maxClients), ref pushedOut);
        }
        if (pushedOut is not null) foreach (var s in pushedOut) Send(s, UpcallNotice.Inode(gfid, data: true));
        if (evicted is not null)
            foreach (var (g, sinks) in evicted)
                foreach (var s in sinks) Send(s, UpcallNotice.Inode(g, data: true));
    }

    /// <summary>
    /// The table is full: drops every object whose looks all expired; if that frees less than an eighth, drops
    /// more (in the dictionary's order) and returns their live sessions, to be told at once. Freeing an eighth at a
    /// time keeps the cost of the walk to a fraction of the looks that filled it.
    /// </summary>
    private List<(Gfid, IUpcallSink[])>? MakeRoomLocked()
    {
        long now = Environment.TickCount64;
        int want = Math.Max(1, _table.Count / 8);
        List<Gfid> gone = [];
        foreach (var (g, w) in _table) if (w.Newest <= now) gone.Add(g);
        List<(Gfid, IUpcallSink[])>? evicted = null;
        if (gone.Count < want)
        {
            foreach (var (g, w) in _table)
            {
                if (w.Newest <= now) continue;
                gone.Add(g);
                var live = new List<IUpcallSink>();
                for (int i = 0; i < w.Count; i++) if (w.Until[i] > now) live.Add(w.Sinks[i]);
                (evicted ??= []).Add((g, [.. live]));
                if (gone.Count >= want) break;
            }
            Interlocked.Add(ref _evicted, evicted?.Count ?? 0);
        }
        foreach (var g in gone) _table.Remove(g);
        return evicted;
    }

    /// <summary>
    /// The caller of <paramref name="ctx"/> changed something: every session of another mount that looked at
    /// <paramref name="watched"/> within its expiry is sent <paramref name="notice"/>. The changer is remembered as a
    /// watcher itself (its reply told it the new state, which it may cache).
    /// </summary>
    private void Changed(FopContext ctx, Gfid watched, in UpcallNotice notice)
    {
        var changer = ctx.Upcalls;
        var mount = ctx.MountId;
        if (watched.IsZero || !_enabled) return;
        IUpcallSink[]? targets = null;
        int n = 0;
        long now = Environment.TickCount64;
        lock (_sync)
        {
            if (_table.TryGetValue(watched, out var w))
            {
                int kept = 0;
                for (int i = 0; i < w.Count; i++)
                {
                    if (w.Until[i] <= now) continue; // expired: forget it
                    w.Sinks[kept] = w.Sinks[i]; w.Until[kept] = w.Until[i]; kept++;
                    if (mount != Guid.Empty && w.Sinks[i].Mount == mount) continue; // the changer's own mount, any graph
                    (targets ??= new IUpcallSink[w.Count])[n++] = w.Sinks[i];
                }
                for (int i = kept; i < w.Count; i++) w.Sinks[i] = null!;
                w.Count = kept;
                if (kept == 0 && changer is null) _table.Remove(watched);
            }
        }
        for (int i = 0; i < n; i++) Send(targets![i], notice);
        Look(changer, watched);
    }

    private void Send(IUpcallSink sink, in UpcallNotice notice)
    {
        sink.Send(notice);
        Interlocked.Increment(ref _sent);
    }

    /// <summary>The object a loc names, as far as it is known here (the server resolves most).</summary>
    private static Gfid GfidOf(in Loc loc) => loc.Inode?.Gfid ?? loc.Gfid;

    private static Gfid ParentOf(in Loc loc) => loc.Parent?.Gfid ?? loc.ParentGfid;

    /// <summary>A name in <paramref name="loc"/>'s directory changed: its watchers drop that name and the directory's attributes.</summary>
    private void EntryChanged(FopContext ctx, in Loc loc)
    {
        var dir = ParentOf(loc);
        if (!dir.IsZero && loc.Name is { } name) Changed(ctx, dir, UpcallNotice.Entry(dir, name));
    }

    private void InodeChanged(FopContext ctx, Gfid gfid, bool data) => Changed(ctx, gfid, UpcallNotice.Inode(gfid, data));
}
