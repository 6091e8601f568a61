using System.Collections.Concurrent;
using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>What a heal of one object came to.</summary>
public enum HealOutcome
{
    /// <summary>Nothing was pending.</summary>
    Clean,
    /// <summary>Every copy that needed it was healed.</summary>
    Healed,
    /// <summary>Some copy still needs heal: it is down, or no copy is known good right now.</summary>
    Pending,
    /// <summary>The copies blame each other and no policy or administrator chose a source.</summary>
    SplitBrain,
    /// <summary>No copy of the object is here (another replica set of a distributed volume holds it).</summary>
    Absent,
}

// Self-heal of one object, found by GFID: under the object's locks (this client's mutex and the
// bricks' lock in replicate's domain) the copies' counters are read once, a source chosen, and the
// sinks made like it — metadata (mode, owner, times, xattrs), entries of a directory (names made or
// removed while a copy was down: renames and hard links come out as a link to the GFID the sink
// already has, then the old name's removal), the data of a file in chunks. Data is copied one chunk
// per lock hold, so application I/O on the file waits at most one chunk; writes meanwhile go to
// every copy, sinks included, and a chunk not yet copied is copied from the source with them. At the
// end the counts read at the start are taken off: whatever transactions did meanwhile nets to zero
// or stays blamed. Heals run in the background, one at a time per object. A heal that a lookup started
// never waits for a lock another client holds (an open write window there, another client's heal): it
// holds this client's mutex on the object meanwhile, so this client's own I/O on it would wait as long.
// It leaves the object Pending instead — it stays in the bricks' index, for the next lookup or a heal pass.
public sealed partial class ReplicateTranslator
{
    private readonly ConcurrentDictionary<Gfid, (Task<HealOutcome> Task, bool Background)> _healing = new();
    private long _healsDone, _healsFailed, _healedBytes, _healsDeferred;

    public long HealsDone => Volatile.Read(ref _healsDone);

    /// <summary>Heals started by lookups that found the object locked by another client and left it for later.</summary>
    public long HealsDeferred => Volatile.Read(ref _healsDeferred);

    /// <summary>Whether lookups start heals (option self-heal); `graft heal` turns it off in its own graph, where heals are its explicit work.</summary>
    public bool SelfHeal { get => _selfHeal; set => _selfHeal = value; }

    /// <summary>
    /// The GFIDs child <paramref name="child"/>'s brick has in its heal index (features/index), or
    /// null when the brick keeps none (a graph without features/index, or an older brick).
    /// </summary>
    public async Task<List<Gfid>?> IndexOfAsync(int child, CancellationToken ct)
    {
        var ctx = HealContext();
        var all = new List<Gfid>();
        string key = Features.Index.IndexTranslator.ListKey;
        while (!ct.IsCancellationRequested)
        {
            var page = await Children[child].GetxattrAsync(ctx, Loc.Nameless(Gfid.Root), key).ConfigureAwait(false);
            if (!page.Ok) return all.Count > 0 || page.Error == Errno.ENOTCONN ? all : null;
            if (page.Value.Length < 16) break;
            for (int i = 0; i + 16 <= page.Value.Length; i += 16) all.Add(Gfid.FromBytes(page.Value.AsSpan(i, 16)));
            key = Features.Index.IndexTranslator.ListKey + "." + all[^1];
        }
        return all;
    }

    /// <summary>Whether child <paramref name="child"/> is up now (for reports: a down brick's index is not known).</summary>
    public bool IsChildUp(int child) => (UpMask & (1u << child)) != 0;

    /// <summary>The mount's trusted identity for heals that no caller asked for.</summary>
    private FopContext HealContext() => new() { Uid = 0, Gid = 0, MountId = Graph?.MountId ?? Graph.ProcessMountId, Graph = Graph };

    /// <summary>
    /// Heals <paramref name="gfid"/> (`graft heal`): joins a heal of it that is running, waiting for the object's
    /// locks if another client holds them. With a <paramref name="source"/> (an administrator's choice for a split
    /// brain) a running heal is waited for, then the object healed from that source.
    /// </summary>
    public async Task<HealOutcome> HealAsync(Gfid gfid, int source = -1)
    {
        if (source >= 0)
        {
            while (_healing.TryGetValue(gfid, out var busy)) await busy.Task.ConfigureAwait(false);
            return await HealObjectAsync(gfid, source).ConfigureAwait(false);
        }
        return await StartHeal(gfid, background: false).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts (or joins) the heal of <paramref name="gfid"/> in the background. A <paramref name="background"/> heal
    /// (a lookup's) gives up on a lock another client holds; one that is not waits for it, and does not join a
    /// background heal (which might give up): it waits for that one to end, then heals.
    /// </summary>
    private Task<HealOutcome> StartHeal(Gfid gfid, bool background = true)
    {
        const int source = -1;
        TaskCompletionSource<HealOutcome> tcs;
        while (true)
        {
            if (_healing.TryGetValue(gfid, out var running))
            {
                if (background || !running.Background) return running.Task;
                return AfterAsync(running.Task, gfid);
            }
            tcs = new TaskCompletionSource<HealOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_healing.TryAdd(gfid, (tcs.Task, background))) break;
        }
        _ = Task.Run(async () =>
        {
            var outcome = HealOutcome.Pending;
            try { outcome = await HealObjectAsync(gfid, source, background: background).ConfigureAwait(false); }
            catch (Exception e)
            {
                Interlocked.Increment(ref _healsFailed);
                Graph?.ReportError(this, $"heal of {gfid} failed", e);
            }
            // Gone from the table before anyone hears the outcome: a heal asked for after it starts afresh.
            _healing.TryRemove(gfid, out _);
            tcs.TrySetResult(outcome);
        });
        return tcs.Task;

        async Task<HealOutcome> AfterAsync(Task<HealOutcome> before, Gfid g)
        {
            await before.ConfigureAwait(false);
            return await StartHeal(g, background: false).ConfigureAwait(false);
        }
    }

    private async Task<HealOutcome> HealObjectAsync(Gfid gfid, int forced, bool inspect = false, bool background = false)
    {
        var ctx = HealContext();
        uint up = UpMask;
        var loc = Loc.Nameless(gfid);
        var found = await FanOutAsync(up, i => Children[i].LookupAsync(ctx, loc)).ConfigureAwait(false);
        uint have = Succeeded(found);
        if (have == 0) return Missing(found, up);
        var first = found[BitOperations.TrailingZeroCount(have)].Value;
        var table = Graph?.Inodes;
        if (table is null) return HealOutcome.Pending;
        var inode = table.Link(default, null, first);
        try
        {
            var st = StateOf(inode);
            int kind = first.IsDir ? Pending.Entry : Pending.Data;
            var target = new TxnTarget(Loc.Of(inode), st, null);
            TxnTarget[] targets = [target];
            await CloseWindowAsync(st, inline: false).ConfigureAwait(false);
            await CloseLeaseAsync(st, inline: false).ConfigureAwait(false);
            await st.Mutex.EnterAsync(inline: false).ConfigureAwait(false);
            var lctx = LockContext(ctx);
            uint locked = 0;
            HealOutcome outcome;
            try
            {
                if (await LockForHealAsync().ConfigureAwait(false) is not { } taken) return Deferred();
                locked = taken;
                var got = await FanOutAsync(locked, i => ReadCountersAsync(ctx, i, target.Loc)).ConfigureAwait(false);
                uint answered = Succeeded(got);
                if (answered == 0) return HealOutcome.Pending;
                var iatts = await FanOutAsync(answered, i => Children[i].StatAsync(ctx, target.Loc)).ConfigureAwait(false);
                var plan = Plan(got, answered, iatts, forced, quiet: inspect);
                if (plan.Split) { st.SplitBrain = true; return HealOutcome.SplitBrain; }
                if (inspect) return plan.Sinks != 0 || plan.Reset || BlamesMissing(got, answered) ? HealOutcome.Pending : HealOutcome.Clean;
                if (plan.Sinks == 0 && !plan.Reset)
                {
                    Volatile.Write(ref st.Bad, _allMask & ~answered);
                    st.SplitBrain = false;
                    st.Judged = true;
                    return BlamesMissing(got, answered) ? HealOutcome.Pending : HealOutcome.Clean;
                }
                int src = BitOperations.TrailingZeroCount(plan.Sources);
                var s = iatts[src].Value;
                var e = Errno.OK;
                if (first.IsDir) e = await HealEntriesAsync(ctx, target.Loc, src, plan.Sinks, plan.Merge).ConfigureAwait(false);
                else if (first.IsReg)
                {
                    // Data outside the lock, a chunk at a time: give the file back first.
                    await UnlockAsync(lctx, targets, kind, locked).ConfigureAwait(false);
                    locked = 0;
                    st.Mutex.Release();
                    try { e = await HealDataAsync(ctx, inode, st, src, plan.Sinks).ConfigureAwait(false); }
                    finally { await st.Mutex.EnterAsync(inline: false).ConfigureAwait(false); }
                    if (await LockForHealAsync().ConfigureAwait(false) is not { } again) return Deferred();
                    locked = again;
                    var now = await Children[src].StatAsync(ctx, target.Loc).ConfigureAwait(false);
                    if (now.Ok) s = now.Value;
                    if (e == Errno.OK) e = await TruncateSinksAsync(ctx, target.Loc, plan.Sinks, s.Size).ConfigureAwait(false);
                }
                if (e == Errno.OK) e = await HealMetadataAsync(ctx, target.Loc, src, plan.Sinks, s).ConfigureAwait(false);
                if (e != Errno.OK)
                {
                    Interlocked.Increment(ref _healsFailed);
                    LogHealFailed(_log, Name, gfid.ToString(), e.Name());
                    return HealOutcome.Pending;
                }
                await ResetCountersAsync(ctx, target.Loc, got, answered).ConfigureAwait(false);
                Volatile.Write(ref st.Bad, _allMask & ~answered);
                st.SplitBrain = false;
                st.Judged = true;
                Interlocked.Increment(ref _healsDone);
                LogHealed(_log, Name, gfid.ToString(), Children[src].Name, ChildNames(plan.Sinks));
                outcome = BlamesMissing(got, answered) ? HealOutcome.Pending : HealOutcome.Healed;
            }
            finally
            {
                await UnlockAsync(lctx, targets, kind, locked).ConfigureAwait(false);
                st.Mutex.Release();
            }
            return outcome;

            // A background heal only tries: null when another client holds the object's lock.
            async ValueTask<uint?> LockForHealAsync() => background
                ? await TryLockAsync(lctx, targets, kind, have).ConfigureAwait(false)
                : await LockAsync(lctx, targets, kind, have).ConfigureAwait(false);
        }
        finally { table.Unref(inode); }

        HealOutcome Deferred()
        {
            Interlocked.Increment(ref _healsDeferred);
            return HealOutcome.Pending;
        }
    }

    /// <summary>
    /// What the copies say of <paramref name="gfid"/> without healing anything (`graft heal --info`):
    /// Clean, Pending (a copy needs heal, or one that is down is blamed), SplitBrain, or Absent. Judged
    /// under the object's locks, so a change in flight (an open write window) is waited out, not reported.
    /// </summary>
    public Task<HealOutcome> InspectAsync(Gfid gfid) => HealObjectAsync(gfid, -1, inspect: true);

    /// <summary>No copy answered: Absent when every copy that is up said so, Pending when one could not be asked.</summary>
    private HealOutcome Missing<T>(Result<T>[] found, uint up)
    {
        if (up != _allMask) return HealOutcome.Pending;
        foreach (var r in found) if (r.Error is not (Errno.ENOENT or Errno.ESTALE)) return HealOutcome.Pending;
        return HealOutcome.Absent;
    }

    /// <summary>Some copy read still blames a copy that was not read (down): that one needs heal once it is back.</summary>
    private bool BlamesMissing(Result<long[][]>[] got, uint answered)
    {
        for (int i = 0; i < got.Length; i++)
        {
            if ((answered & (1u << i)) == 0) continue;
            for (int k = 0; k < Pending.Kinds; k++)
                for (int j = 0; j < Children.Count; j++)
                    if ((answered & (1u << j)) == 0 && got[i].Value[k][j] > 0) return true;
        }
        return false;
    }

    /// <param name="Merge">the entries' counters all blame themselves: no copy is known to lack a name, so entry heal only adds names, never removes one.</param>
    private readonly record struct HealPlan(uint Sources, uint Sinks, bool Split, bool Reset, bool Merge = false);

    /// <summary>Sources and sinks over every kind of counter; a split brain resolved by <paramref name="forced"/> or the favourite-child policy.</summary>
    private HealPlan Plan(Result<long[][]>[] got, uint answered, Result<Iatt>[] iatts, int forced, bool quiet = false)
    {
        int n = Children.Count;
        uint sources = answered, sinks = 0;
        bool split = false, any = false, merge = false;
        for (int kind = 0; kind < Pending.Kinds; kind++)
        {
            var m = new long[n][];
            for (int i = 0; i < n; i++) m[i] = got[i].Ok ? got[i].Value[kind] : new long[n];
            var v = Verdict.Judge(m, answered);
            if (v.Clean && v.Sources == answered)
            {
                for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) any |= m[i][j] != 0 && (answered & (1u << j)) != 0;
                continue;
            }
            any = true;
            merge |= kind == Pending.Entry && v.AllSuspect && v.Sources == answered;
            uint src = v.AllSuspect ? Biggest(v.Sources, iatts) : v.Sources;
            if (v.SplitBrain) { split = true; continue; }
            sources &= src;
            sinks |= answered & ~src;
        }
        if (split || sources == 0)
        {
            int chosen = forced >= 0 && (answered & (1u << forced)) != 0 ? forced : FavouriteOf(answered, iatts);
            if (chosen < 0) return new(0, 0, true, false);
            if (!quiet) LogSplitBrainResolved(_log, Name, Children[chosen].Name, forced >= 0 ? "administrator" : _favourite.ToString());
            return new(1u << chosen, answered & ~(1u << chosen), false, true);
        }
        return new(sources, sinks & ~sources, false, any, merge);
    }

    /// <summary>The copy favorite-child-policy picks out of a split brain, or -1 (none, or no clear choice).</summary>
    private int FavouriteOf(uint among, Result<Iatt>[] iatts)
    {
        int best = -1, ties = 0;
        for (int i = 0; i < iatts.Length; i++)
        {
            if ((among & (1u << i)) == 0 || !iatts[i].Ok) continue;
            var x = iatts[i].Value;
            int c = best < 0 ? 1 : _favourite switch
            {
                Favourite.Mtime => Compare(x.Mtime, iatts[best].Value.Mtime),
                Favourite.Size => x.Size.CompareTo(iatts[best].Value.Size),
                Favourite.Majority => Agreeing(among, iatts, x).CompareTo(Agreeing(among, iatts, iatts[best].Value)),
                _ => 0,
            };
            if (c > 0) { best = i; ties = 0; }
            else if (c == 0) ties++;
        }
        if (_favourite == Favourite.None || best < 0 || ties > 0) return -1;
        if (_favourite == Favourite.Majority && Agreeing(among, iatts, iatts[best].Value) * 2 <= Children.Count) return -1;
        return best;
    }

    /// <summary>How many copies have the same size and mtime as <paramref name="x"/>.</summary>
    private static int Agreeing(uint among, Result<Iatt>[] iatts, Iatt x)
    {
        int n = 0;
        for (int i = 0; i < iatts.Length; i++)
            if ((among & (1u << i)) != 0 && iatts[i].Ok && iatts[i].Value.Size == x.Size && iatts[i].Value.Mtime == x.Mtime) n++;
        return n;
    }

    /// <summary>
    /// Takes off, on every copy read, the counts read at the start: what transactions did since nets to zero
    /// or stays. Never past zero: another heal of the object that read the same counts may have taken them
    /// off already (another client's, when nothing made the two take turns: bricks without a lock service,
    /// or a file's data heal, which gives the lock back while it copies). A counter pushed below zero blames
    /// nobody, so no lookup would heal it again and it would stay pending for ever; so where the brick's
    /// answer (the counters after the add) shows this heal went past zero, the excess is given back.
    /// </summary>
    private async ValueTask ResetCountersAsync(FopContext ctx, Loc loc, Result<long[][]>[] got, uint answered)
    {
        await FanOutAsync(answered, async i =>
        {
            for (int j = 0; j < Children.Count; j++)
            {
                if ((answered & (1u << j)) == 0) continue; // a copy not read keeps its blame
                var delta = new long[Pending.Kinds];
                for (int k = 0; k < Pending.Kinds; k++) delta[k] = -got[i].Value[k][j];
                var after = await AddCountersAsync(ctx, i, loc, j, delta).ConfigureAwait(false);
                if (!after.Ok) continue;
                // Past zero: that much of what was read had been taken off already (by another heal); given back,
                // never more than this heal took. (The same the other way for a negative count this heal set right.)
                bool some = false;
                for (int k = 0; k < Pending.Kinds; k++)
                {
                    long now = Pending.Read(after.Value, k), back = 0;
                    if (delta[k] < 0 && now < 0) back = Math.Min(-now, -delta[k]);
                    else if (delta[k] > 0 && now > 0) back = -Math.Min(now, delta[k]);
                    delta[k] = back;
                    some |= back != 0;
                }
                if (some)
                {
                    LogCountersOvershot(_log, Name, loc.ToString(), Children[i].Name, Children[j].Name);
                    await AddCountersAsync(ctx, i, loc, j, delta).ConfigureAwait(false);
                }
            }
            return new Result<bool>(true);
        }).ConfigureAwait(false);
    }

    /// <summary>Adds <paramref name="delta"/> (one per kind) to copy <paramref name="i"/>'s counters for child <paramref name="j"/>; the counters after it (nothing sent when every delta is 0: ENODATA).</summary>
    private ValueTask<Result<byte[]>> AddCountersAsync(FopContext ctx, int i, Loc loc, int j, long[] delta)
    {
        if (Array.TrueForAll(delta, d => d == 0)) return ValueTask.FromResult(new Result<byte[]>(Errno.ENODATA));
        var bytes = new byte[Pending.Width];
        for (int k = 0; k < Pending.Kinds; k++) System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(k * 8), delta[k]);
        return Children[i].XattropAsync(ctx, loc, _pendingNames[j], bytes);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name}: healed {Gfid} from {Source} onto {Sinks}")]
    private static partial void LogHealed(ILogger log, string name, string gfid, string source, string sinks);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name}: {Object}'s counters on {Child} for {Of} were taken off by another heal first: set back to zero")]
    private static partial void LogCountersOvershot(ILogger log, string name, string @object, string child, string of);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: heal of {Gfid} stopped: {Error}; it stays pending")]
    private static partial void LogHealFailed(ILogger log, string name, string gfid, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: split brain resolved with {Source} as the source (chosen by {By})")]
    private static partial void LogSplitBrainResolved(ILogger log, string name, string source, string by);
}
