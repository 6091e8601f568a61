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
        }
        return o;
    }

    public string Line() =>
        $"heal: {Interlocked.Read(ref Scanned)} objects looked at ({Interlocked.Read(ref Scanned) / Math.Max(Clock.Elapsed.TotalSeconds, 1e-3):0.0}/s), " +
        $"{Interlocked.Read(ref Healed)} healed, {Interlocked.Read(ref Pending)} pending, {Interlocked.Read(ref SplitBrain)} split-brain, {Clock.Elapsed:mm\\:ss}";
}

/// <summary>
/// A heal pass as a client of the volume: every directory from the root, breadth first, is healed
/// (its entries first, so the names below it exist on every copy) and then listed; every object is
/// handed to each replica set's heal (or, with --info, only judged). A replica set that holds no
/// copy of an object (distribute above replicate) answers Absent and is not counted.
/// </summary>
internal sealed class Healer(Volume volume, IReadOnlyList<ReplicateTranslator> sets, HealProgress p, bool infoOnly)
{
    public async Task RunAsync(CancellationToken ct)
    {
        var queue = new Queue<(string Path, Gfid Gfid)>();
        queue.Enqueue(("/", Gfid.Root));
        while (queue.Count > 0 && !ct.IsCancellationRequested)
        {
            var (dir, gfid) = queue.Dequeue();
            await OneAsync(dir, gfid).ConfigureAwait(false);
            try
            {
                await foreach (var e in volume.EnumerateEntriesAsync(dir, ct).ConfigureAwait(false))
                {
                    var path = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
                    if (e.Type == PosixMode.S_IFDIR) queue.Enqueue((path, e.Gfid));
                    else await OneAsync(path, e.Gfid).ConfigureAwait(false);
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

    private async Task OneAsync(string path, Gfid gfid)
    {
        Interlocked.Increment(ref p.Scanned);
        var worst = HealOutcome.Absent;
        foreach (var set in sets)
        {
            var o = infoOnly ? await set.InspectAsync(gfid).ConfigureAwait(false) : await set.HealAsync(gfid).ConfigureAwait(false);
            if (Rank(o) > Rank(worst)) worst = o;
        }
        switch (worst)
        {
            case HealOutcome.Healed: Interlocked.Increment(ref p.Healed); p.Name(path, "healed"); break;
            case HealOutcome.Pending: Interlocked.Increment(ref p.Pending); p.Name(path, "pending"); break;
            case HealOutcome.SplitBrain: Interlocked.Increment(ref p.SplitBrain); p.Name(path, "split-brain"); break;
        }
    }

    private static int Rank(HealOutcome o) => o switch
    {
        HealOutcome.Absent => 0, HealOutcome.Clean => 1, HealOutcome.Healed => 2, HealOutcome.Pending => 3, _ => 4,
    };
}
