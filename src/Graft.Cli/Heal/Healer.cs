using System.Diagnostics;
using System.Text.Json.Nodes;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Cli.Heal;

/// <summary>What a heal pass has done so far: read by the reporter while the walk updates it.</summary>
internal sealed class HealProgress
{
    public readonly Stopwatch Clock = Stopwatch.StartNew();
    public long Scanned, Healed, Pending, SplitBrain;
    public readonly List<(string Path, string State)> Named = [];
    /// <summary>Each brick's heal index as the pass left it (null Indexed: the brick keeps none), filled at the end.</summary>
    public readonly List<(string Subvolume, bool Up, int? Indexed)> Bricks = [];
    public bool Interrupted;
    public const int NamedMax = 1000;

    public void Name(string path, string state)
    {
        lock (Named) if (Named.Count < NamedMax) Named.Add((path, state));
    }

    public JsonObject Snapshot(bool done)
    {
        double s = Math.Max(Clock.Elapsed.TotalSeconds, 1e-3);
        var o = new JsonObject
        {
            ["elapsed"] = Math.Round(s, 3),
            ["scanned"] = Interlocked.Read(ref Scanned),
            ["healed"] = Interlocked.Read(ref Healed),
            ["pending"] = Interlocked.Read(ref Pending),
            ["splitBrain"] = Interlocked.Read(ref SplitBrain),
            ["objectsPerSecond"] = Math.Round(Interlocked.Read(ref Scanned) / s, 1),
            ["done"] = done,
        };
        if (done)
        {
            o["interrupted"] = Interrupted;
            lock (Named) o["entries"] = new JsonArray([.. Named.Select(n => (JsonNode)new JsonObject { ["path"] = n.Path, ["state"] = n.State })]);
            o["bricks"] = new JsonArray([.. Bricks.Select(b => (JsonNode)new JsonObject { ["subvolume"] = b.Subvolume, ["up"] = b.Up, ["indexed"] = b.Indexed })]);
        }
        return o;
    }

    public string Line() =>
        $"heal: {Interlocked.Read(ref Scanned)} objects looked at ({Interlocked.Read(ref Scanned) / Math.Max(Clock.Elapsed.TotalSeconds, 1e-3):0.0}/s), " +
        $"{Interlocked.Read(ref Healed)} healed, {Interlocked.Read(ref Pending)} pending, {Interlocked.Read(ref SplitBrain)} split-brain, {Clock.Elapsed:mm\\:ss}";
}

/// <summary>
/// A heal pass as a client of the volume. The work comes from the bricks' heal indexes
/// (features/index: the GFIDs whose pending counters are non-zero), read from every brick of every
/// replica set, so the tree is not scanned; each GFID goes to each replica set's heal (or, with
/// --info, its judgement). Healing a directory's entries blames the copies of the objects it made,
/// which puts them in the index: the index is read again (with what was still pending), up to
/// <see cref="MaxPasses"/> times, until a pass heals nothing more. Bricks without an index (a graph without features/index) are healed by
/// walking the tree instead. Names are found for what is reported (pending, split brain) by one walk,
/// only when there is something to report; a GFID no walk reaches is shown as &lt;gfid:…&gt;.
/// </summary>
internal sealed class Healer(Volume volume, IReadOnlyList<ReplicateTranslator> sets, HealProgress p, bool infoOnly)
{
    public const int MaxPasses = 32;
    private readonly Dictionary<Gfid, HealOutcome> _last = [];

    public async Task RunAsync(CancellationToken ct)
    {
        var first = await IndexAsync(ct).ConfigureAwait(false);
        if (first is null) { await WalkAsync(ct).ConfigureAwait(false); await BricksAsync(ct).ConfigureAwait(false); return; }
        var work = first;
        for (int pass = 0; pass < MaxPasses && work.Count > 0 && !ct.IsCancellationRequested; pass++)
        {
            bool progress = false;
            foreach (var g in work)
            {
                if (ct.IsCancellationRequested) break;
                Interlocked.Increment(ref p.Scanned);
                var o = await OneAsync(g).ConfigureAwait(false);
                bool before = _last.TryGetValue(g, out var was);
                // Pending before and clean now: healed meanwhile by a heal this pass started (a directory's entry heal heals what it makes).
                if (o == HealOutcome.Clean && was == HealOutcome.Pending) o = HealOutcome.Healed;
                progress |= o == HealOutcome.Healed && was != HealOutcome.Healed;
                if (!before || was != HealOutcome.Healed || o != HealOutcome.Clean) _last[g] = o;
            }
            Count();
            if (infoOnly || !progress) break;
            // What the index lists now, and what was pending: it may have been healed since, or be healable now.
            var next = new SortedSet<Gfid>(await IndexAsync(ct).ConfigureAwait(false) ?? []);
            next.UnionWith(_last.Where(kv => kv.Value == HealOutcome.Pending).Select(kv => kv.Key));
            work = [.. next];
        }
        if (_last.Values.Any(o => o is HealOutcome.Pending or HealOutcome.SplitBrain)) await NameAsync(ct).ConfigureAwait(false);
        foreach (var (g, o) in _last.OrderBy(kv => kv.Key))
            if (o is HealOutcome.Healed or HealOutcome.Pending or HealOutcome.SplitBrain)
                p.Name(_names.GetValueOrDefault(g) ?? $"<gfid:{g}>", State(o));
        await BricksAsync(ct).ConfigureAwait(false);
    }

    /// <summary>What each brick's index holds now: after a heal, what is left (GlusterFS's per-brick "Number of entries").</summary>
    private async Task BricksAsync(CancellationToken ct)
    {
        foreach (var set in sets)
            for (int i = 0; i < set.Children.Count; i++)
            {
                bool up = set.IsChildUp(i);
                var l = up ? await set.IndexOfAsync(i, ct).ConfigureAwait(false) : null;
                p.Bricks.Add((set.Children[i].Name, up, l?.Count));
            }
    }

    /// <summary>Every GFID in any brick's index, or null when no brick that is up keeps an index.</summary>
    private async Task<List<Gfid>?> IndexAsync(CancellationToken ct)
    {
        var all = new SortedSet<Gfid>();
        bool any = false;
        foreach (var set in sets)
            for (int i = 0; i < set.Children.Count; i++)
                if (await set.IndexOfAsync(i, ct).ConfigureAwait(false) is { } l) { any = true; all.UnionWith(l); }
        return any ? [.. all] : null;
    }

    private void Count()
    {
        long healed = 0, pending = 0, split = 0;
        foreach (var o in _last.Values)
        {
            if (o == HealOutcome.Healed) healed++;
            else if (o == HealOutcome.Pending) pending++;
            else if (o == HealOutcome.SplitBrain) split++;
        }
        Interlocked.Exchange(ref p.Healed, healed);
        Interlocked.Exchange(ref p.Pending, pending);
        Interlocked.Exchange(ref p.SplitBrain, split);
    }

    private readonly Dictionary<Gfid, string> _names = [];

    /// <summary>One walk from the root to put names on the GFIDs that will be reported.</summary>
    private async Task NameAsync(CancellationToken ct)
    {
        var wanted = _last.Where(kv => kv.Value is HealOutcome.Pending or HealOutcome.SplitBrain).Select(kv => kv.Key).ToHashSet();
        if (wanted.Remove(Gfid.Root)) _names[Gfid.Root] = "/";
        var queue = new Queue<string>();
        queue.Enqueue("/");
        while (queue.Count > 0 && wanted.Count > 0 && !ct.IsCancellationRequested)
        {
            var dir = queue.Dequeue();
            try
            {
                await foreach (var e in volume.EnumerateEntriesAsync(dir, ct).ConfigureAwait(false))
                {
                    var path = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
                    if (wanted.Remove(e.Gfid)) _names[e.Gfid] = path;
                    if (e.Type == PosixMode.S_IFDIR) queue.Enqueue(path);
                }
            }
            catch (GraftIOException) { }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        }
    }

    /// <summary>Without an index: every directory from the root, breadth first, healed before it is listed, then each of its objects.</summary>
    private async Task WalkAsync(CancellationToken ct)
    {
        var queue = new Queue<(string Path, Gfid Gfid)>();
        queue.Enqueue(("/", Gfid.Root));
        while (queue.Count > 0 && !ct.IsCancellationRequested)
        {
            var (dir, gfid) = queue.Dequeue();
            await WalkOneAsync(dir, gfid).ConfigureAwait(false);
            try
            {
                await foreach (var e in volume.EnumerateEntriesAsync(dir, ct).ConfigureAwait(false))
                {
                    var path = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
                    if (e.Type == PosixMode.S_IFDIR) queue.Enqueue((path, e.Gfid));
                    else await WalkOneAsync(path, e.Gfid).ConfigureAwait(false);
                    if (ct.IsCancellationRequested) break;
                }
            }
            catch (GraftIOException e)
            {
                Interlocked.Increment(ref p.Pending);
                p.Name(dir, "unlisted: " + e.Errno.Name());
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        }
    }

    private async Task WalkOneAsync(string path, Gfid gfid)
    {
        Interlocked.Increment(ref p.Scanned);
        var o = await OneAsync(gfid).ConfigureAwait(false);
        switch (o)
        {
            case HealOutcome.Healed: Interlocked.Increment(ref p.Healed); break;
            case HealOutcome.Pending: Interlocked.Increment(ref p.Pending); break;
            case HealOutcome.SplitBrain: Interlocked.Increment(ref p.SplitBrain); break;
            default: return;
        }
        p.Name(path, State(o));
    }

    /// <summary>The object's worst state over every replica set (a set with no copy of it says Absent).</summary>
    private async Task<HealOutcome> OneAsync(Gfid gfid)
    {
        var worst = HealOutcome.Absent;
        foreach (var set in sets)
        {
            var o = infoOnly ? await set.InspectAsync(gfid).ConfigureAwait(false) : await set.HealAsync(gfid).ConfigureAwait(false);
            if (Rank(o) > Rank(worst)) worst = o;
        }
        return worst;
    }

    private static string State(HealOutcome o) => o switch
    {
        HealOutcome.Healed => "healed", HealOutcome.Pending => "pending", HealOutcome.SplitBrain => "split-brain", _ => o.ToString(),
    };

    private static int Rank(HealOutcome o) => o switch
    {
        HealOutcome.Absent => 0, HealOutcome.Clean => 1, HealOutcome.Healed => 2, HealOutcome.Pending => 3, _ => 4,
    };
}
