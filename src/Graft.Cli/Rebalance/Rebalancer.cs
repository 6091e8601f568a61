using System.Text;
using Graft.Client;
using Graft.Core;
using Graft.Xlators.Cluster.Distribute;

namespace Graft.Cli.Rebalance;

/// <summary>How a rebalance runs: what it does, which subvolumes it drains, how long it waits for busy files.</summary>
internal sealed record RebalanceSettings(bool FixLayoutOnly, IReadOnlyList<string> Removing, TimeSpan BusyWait);

/// <summary>
/// The rebalance process's walk, as a client of the volume: every directory, breadth first, is listed
/// and given a layout over all subvolumes (fix-layout, counting its files for the ETA); then, unless
/// only layouts were asked for, each directory's entries are moved one by one where their names hash
/// (distribute's migrate does the move). A drain (<c>--remove</c>) walks a second time, once mounts
/// placing names by an older layout have had time to see the new one, so a name made meanwhile on a
/// drained subvolume is moved too. Files found busy are tried again at the end, for a bounded time.
/// </summary>
internal sealed class Rebalancer(Volume volume, DistributeTranslator dht, RebalanceProgress p, TextWriter error, RebalanceSettings settings)
{
    private readonly record struct Pending(string Dir, string Name, Errno Why);

    private readonly long _bytesBase = dht.BytesMoved;
    // A drain walks twice: a file that failed or was skipped the first time is reported once, not again.
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal), _skipped = new(StringComparer.Ordinal);

    public async Task RunAsync(CancellationToken ct)
    {
        var dirs = await FixLayoutsAsync(countTotals: true, ct).ConfigureAwait(false);
        if (settings.FixLayoutOnly || ct.IsCancellationRequested) return;
        p.Phase = "move";
        p.MoveStartedMs = p.Clock.ElapsedMilliseconds;
        var pending = new List<Pending>();
        await MoveAllAsync(dirs, pending, counted: true, ct).ConfigureAwait(false);
        if (settings.Removing.Count > 0 && !ct.IsCancellationRequested)
        {
            // Mounts place names by a layout up to layout-refresh old (and take a second to hear of a volfile
            // change): once that has passed since this walk began, no mount can still place one on a drained
            // subvolume, and a second walk moves what they placed before.
            long settledAt = p.MoveStartedMs + dht.Options.GetLong("layout-refresh") + 1000;
            long wait = settledAt - p.Clock.ElapsedMilliseconds;
            if (wait > 0) await DelayAsync(TimeSpan.FromMilliseconds(wait), ct).ConfigureAwait(false);
            p.Phase = "verify";
            dirs = await FixLayoutsAsync(countTotals: false, ct).ConfigureAwait(false);
            await MoveAllAsync(dirs, pending, counted: false, ct).ConfigureAwait(false);
        }
        await RetryAsync(pending, ct).ConfigureAwait(false);
    }

    /// <summary>Breadth first from the root: each directory is listed (its lookup by name on the way makes its copy on a new brick), then fixed.</summary>
    private async Task<List<string>> FixLayoutsAsync(bool countTotals, CancellationToken ct)
    {
        var all = new List<string>();
        var queue = new Queue<string>();
        queue.Enqueue("/");
        while (queue.Count > 0 && !ct.IsCancellationRequested)
        {
            var dir = queue.Dequeue();
            try
            {
                await foreach (var e in volume.EnumerateEntriesAsync(dir, ct).ConfigureAwait(false))
                {
                    if (e.Type == PosixMode.S_IFDIR) { queue.Enqueue(Join(dir, e.Name)); continue; }
                    if (!countTotals) continue;
                    Interlocked.Increment(ref p.FilesSeen);
                    Interlocked.Increment(ref p.FilesTotal);
                    if (e.Iatt is { IsReg: true } ia) Interlocked.Add(ref p.BytesTotal, ia.Size);
                }
                var before = await volume.GetXattrAsync(dir, DistributeTranslator.LayoutKey, ct).ConfigureAwait(false);
                await volume.SetXattrAsync(dir, DistributeTranslator.FixLayoutKey, ReadOnlyMemory<byte>.Empty, 0, ct).ConfigureAwait(false);
                var after = await volume.GetXattrAsync(dir, DistributeTranslator.LayoutKey, ct).ConfigureAwait(false);
                if (!before.AsSpan().SequenceEqual(after)) Interlocked.Increment(ref p.LayoutsFixed);
                if (countTotals) Interlocked.Increment(ref p.Directories);
                all.Add(dir);
            }
            catch (GraftIOException e) { Failed(dir, e.Errno.Name()); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        }
        return all;
    }

    private async Task MoveAllAsync(List<string> dirs, List<Pending> pending, bool counted, CancellationToken ct)
    {
        foreach (var dir in dirs)
        {
            if (ct.IsCancellationRequested) return;
            List<DirEntry> entries;
            try { entries = await volume.ListDirectoryAsync(dir, ct).ConfigureAwait(false); }
            catch (GraftIOException e) { if (e.Errno != Errno.ENOENT) Failed(dir, e.Errno.Name()); continue; }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            // A name listed twice may be a file and the retired source of a move whose last step was cut short.
            var twice = entries.GroupBy(e => e.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
            var done = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in entries)
            {
                if (ct.IsCancellationRequested) return;
                if (e.Type == PosixMode.S_IFDIR || !done.Add(e.Name)) continue;
                var outcome = await MigrateAsync(dir, e.Name, twice.Contains(e.Name), ct).ConfigureAwait(false);
                if (counted)
                {
                    Interlocked.Increment(ref p.FilesScanned);
                    if (e.Iatt is { IsReg: true } ia) Interlocked.Add(ref p.BytesScanned, ia.Size);
                }
                Record(dir, e.Name, outcome, pending);
            }
        }
    }

    private async Task<Errno> MigrateAsync(string dir, string name, bool listedTwice, CancellationToken ct)
    {
        try
        {
            await volume.SetXattrAsync(dir, DistributeTranslator.MigrateKey, NameBytes.GetBytes(name),
                                       listedTwice ? DistributeTranslator.MigrateCleanLeftovers : 0, ct).ConfigureAwait(false);
            return Errno.OK;
        }
        catch (GraftIOException e) { return e.Errno; }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return Errno.EINTR; }
        finally { Interlocked.Exchange(ref p.BytesMoved, dht.BytesMoved - _bytesBase); }
    }

    /// <summary>What one migrate answered: counted, or kept to be tried again (busy now, maybe not in a moment).</summary>
    private void Record(string dir, string name, Errno outcome, List<Pending> pending)
    {
        switch (outcome)
        {
            case Errno.OK: Interlocked.Increment(ref p.Moved); break;
            case Errno.EALREADY or Errno.ENOENT or Errno.EINTR: break;
            case Errno.EBUSY or Errno.EINPROGRESS or Errno.EAGAIN: pending.Add(new(dir, name, outcome)); break;
            case Errno.EMLINK: Skipped(Join(dir, name), "hard links"); break;
            case Errno.EXDEV: Failed(Join(dir, name), "hard links: cannot leave a subvolume being removed"); break;
            default: Failed(Join(dir, name), outcome.Name()); break;
        }
    }

    /// <summary>
    /// Files that were busy, tried again every second for at most --busy-wait: one a killed rebalance was
    /// moving (its brick lets go of the mark after its grace-timeout), one that changed under its move;
    /// and, when draining, files open for writing. Then what is left is skipped — or failed, when it still
    /// sits on a subvolume being removed.
    /// </summary>
    private async Task RetryAsync(List<Pending> pending, CancellationToken ct)
    {
        bool draining = settings.Removing.Count > 0;
        pending = [.. pending.DistinctBy(x => (x.Dir, x.Name))];
        var retry = pending.Where(x => draining || x.Why != Errno.EBUSY).ToList();
        var final = pending.Where(x => !(draining || x.Why != Errno.EBUSY)).ToList();
        if (retry.Count > 0 && !ct.IsCancellationRequested)
        {
            p.Phase = "retry";
            var deadline = p.Clock.Elapsed + settings.BusyWait;
            while (retry.Count > 0 && p.Clock.Elapsed < deadline && !ct.IsCancellationRequested)
            {
                await DelayAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                var still = new List<Pending>();
                foreach (var x in retry)
                {
                    var outcome = await MigrateAsync(x.Dir, x.Name, false, ct).ConfigureAwait(false);
                    if (outcome is Errno.EBUSY or Errno.EINPROGRESS or Errno.EAGAIN) still.Add(x with { Why = outcome });
                    else Record(x.Dir, x.Name, outcome, still);
                }
                retry = still;
            }
        }
        foreach (var x in retry.Concat(final))
        {
            var path = Join(x.Dir, x.Name);
            var why = x.Why switch
            {
                Errno.EBUSY => "open for writing",
                Errno.EINPROGRESS => "being moved by another rebalance",
                _ => "kept changing while it was moved",
            };
            if (draining && await OnRemovedAsync(path, ct).ConfigureAwait(false)) Failed(path, why + ": still on a subvolume being removed");
            else Skipped(path, why);
        }
    }

    private async Task<bool> OnRemovedAsync(string path, CancellationToken ct)
    {
        try
        {
            var at = Encoding.UTF8.GetString(await volume.GetXattrAsync(path, DistributeTranslator.SubvolumeKey, ct).ConfigureAwait(false));
            return settings.Removing.Contains(at);
        }
        catch (GraftIOException e) { return e.Errno != Errno.ENOENT; }
    }

    private void Skipped(string path, string why)
    {
        if (!_skipped.Add(path)) return;
        p.Skip(path, why);
        lock (p) error.WriteLine($"graft rebalance: {path}: skipped ({why})");
    }

    private void Failed(string path, string why)
    {
        if (!_failed.Add(path)) return;
        p.Fail(path, why);
        lock (p) error.WriteLine($"graft rebalance: {path}: {why}");
    }

    private static async Task DelayAsync(TimeSpan t, CancellationToken ct)
    {
        try { await Task.Delay(t, ct).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    private static string Join(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;
}
