using System.Collections.Concurrent;
using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// lookup: on every child that is up; the copies must agree on GFID and type (else EIO, logged:
// never pick one silently); the copies' pending counters are read when this client has no verdict
// on the object yet, when a copy it doubts is up again, or when the copies disagree; the
// attributes come from a copy no other copy blames.
public sealed partial class ReplicateTranslator
{
    // Verdicts reached by a lookup whose inode the graph had not linked yet (a first lookup): the
    // inode's own context takes them at its first use. Bounded; losing one only costs a re-read.
    private readonly ConcurrentDictionary<Gfid, ReplInode> _fresh = new();
    private const int FreshMax = 4096;

    public override async ValueTask<Result<Iatt>> LookupAsync(FopContext ctx, Loc loc, Xdata? xdata = null)
    {
        uint up = UpMask;
        if (up == 0) return Errno.ENOTCONN;
        Result<Iatt>[] r;
        uint found;
        for (int read = 0; ; read++)
        {
            r = await FanOutAsync(up, i => Children[i].LookupAsync(ctx, loc, xdata)).ConfigureAwait(false);
            found = Succeeded(r);
            if (found == 0 || found == up || loc.ParentGfid.IsZero) break;
            uint lacking = 0;
            for (int i = 0; i < r.Length; i++) if ((up & (1u << i)) != 0 && r[i].Error == Errno.ENOENT) lacking |= 1u << i;
            uint blamed = await ParentBlameAsync(ctx, loc, up).ConfigureAwait(false);
            if ((lacking & ~blamed) == 0) break; // the copies that lack it missed its making
            if ((found & ~blamed) == 0)
            {
                // Only copies its directory blames have it: they missed its removal or rename while they
                // were down. The others are right until the directory's heal has made them agree.
                if (_selfHeal) _ = StartHeal(loc.ParentGfid);
                return Errno.ENOENT;
            }
            // Copies no blame explains disagree. The names were read before that verdict: a heal of the
            // directory that ended in between (perhaps the one the lookup of the directory itself started)
            // moved or removed the name on the copy that had it, then cleared the blame. So read them again;
            // a disagreement still there is one nothing recorded (a change cut off between the copies, or
            // in flight), merged below.
            if (read == 1) break;
        }
        if (found == 0)
        {
            for (int i = 0; i < r.Length; i++) if ((up & (1u << i)) != 0 && r[i].Error == Errno.ENOENT) return Errno.ENOENT;
            return FirstOk(r, up);
        }
        int first = BitOperations.TrailingZeroCount(found);
        var a = r[first].Value;
        bool differ = false;
        for (int i = first + 1; i < r.Length; i++)
        {
            if ((found & (1u << i)) == 0) continue;
            var b = r[i].Value;
            if (b.Gfid != a.Gfid || b.Type != a.Type)
            {
                Interlocked.Increment(ref _gfidMismatches);
                LogMismatch(_log, Name, loc.ToString(), Children[first].Name, a.Gfid.ToString(), Children[i].Name, b.Gfid.ToString());
                return Errno.EIO;
            }
            differ |= (!a.IsDir && b.Size != a.Size) || b.Mode != a.Mode || b.Uid != a.Uid || b.Gid != a.Gid || (!a.IsDir && b.Nlink != a.Nlink);
        }
        // An entry missing on a copy that is up, or copies that disagree: read the counters.
        var st = await JudgedStateAsync(ctx, a.Gfid, loc.Inode, found, r, doubt: differ || found != up).ConfigureAwait(false);
        uint bad = Volatile.Read(ref st.Bad);
        if (_selfHeal && !st.SplitBrain && (bad & found) != 0) _ = StartHeal(a.Gfid);
        // A name missing on a copy that is up: its parent's entries need heal there.
        if (_selfHeal && found != up && loc.Name is { } name && !loc.ParentGfid.IsZero) _ = HealNameAsync(loc.ParentGfid, name);
        uint good = found & ~bad;
        return good != 0 ? r[BitOperations.TrailingZeroCount(good)].Value : a;
    }

    /// <summary>
    /// The copies the directory of <paramref name="loc"/>'s name blames for its entries, judged here if this
    /// client has no verdict on it yet (the root is never looked up) or doubts a copy that is up.
    /// </summary>
    private async ValueTask<uint> ParentBlameAsync(FopContext ctx, Loc loc, uint up)
    {
        var pst = await JudgedStateAsync(ctx, loc.ParentGfid, loc.Parent, up, null).ConfigureAwait(false);
        return Volatile.Read(ref pst.Bad);
    }

    /// <summary>
    /// This client's verdict on <paramref name="gfid"/> (the state of its inode, <paramref name="inode"/>
    /// if that is the one, or of a first lookup not linked yet), judged from the counters of the copies in
    /// <paramref name="among"/> first if it has none, if the caller <paramref name="doubt"/>s it, or if a
    /// copy it doubts is among them (up again).
    /// </summary>
    private async ValueTask<ReplInode> JudgedStateAsync(FopContext ctx, Gfid gfid, Inode? inode, uint among, Result<Iatt>[]? iatts, bool doubt = false)
    {
        if (inode is null || inode.Gfid != gfid) inode = Graph?.Inodes.Find(gfid);
        var st = StateFor(gfid, inode) ?? new ReplInode();
        if (!st.Judged || doubt || (Volatile.Read(ref st.Bad) & among) != 0)
        {
            await JudgeAsync(Trusted(ctx), Loc.Nameless(gfid), st, among, iatts).ConfigureAwait(false);
            if (inode is null) Remember(gfid, st);
        }
        return st;
    }

    /// <summary>The state this client keeps of <paramref name="gfid"/> (its inode's, or a first lookup's not linked yet), or null.</summary>
    private ReplInode? StateFor(Gfid gfid, Inode? inode)
    {
        if (inode is null || inode.Gfid != gfid) inode = Graph?.Inodes.Find(gfid);
        return inode is not null ? StateOf(inode) : _fresh.GetValueOrDefault(gfid);
    }

    private void Remember(Gfid gfid, ReplInode st)
    {
        if (_fresh.Count >= FreshMax) _fresh.Clear();
        _fresh[gfid] = st;
    }

    /// <summary>
    /// Reads every copy's pending counters (as the mount's trusted identity) and sets the verdict:
    /// which copies need heal (<see cref="ReplInode.Bad"/>: sinks, and copies that could not be
    /// read) and whether it is a split brain. Copies that all blame themselves (a client died with
    /// a change in flight) are judged by <paramref name="iatts"/>: the biggest, then the newest, is the source.
    /// </summary>
    private async ValueTask JudgeAsync(FopContext tctx, Loc loc, ReplInode st, uint among, Result<Iatt>[]? iatts)
    {
        int n = Children.Count;
        var got = await FanOutAsync(among, i => ReadCountersAsync(tctx, i, loc)).ConfigureAwait(false);
        uint answered = Succeeded(got);
        uint bad = _allMask & ~answered;
        bool split = false;
        for (int kind = 0; kind < Pending.Kinds; kind++)
        {
            var m = new long[n][];
            for (int i = 0; i < n; i++) m[i] = got[i].Ok ? got[i].Value[kind] : new long[n];
            var v = Verdict.Judge(m, answered);
            if (v.AllSuspect) bad |= answered & ~Biggest(v.Sources, iatts);
            else
            {
                bad |= v.Sinks;
                split |= v.SplitBrain;
            }
        }
        Volatile.Write(ref st.Bad, bad);
        st.SplitBrain = split;
        st.Judged = true;
        if (split) LogSplitBrain(_log, Name, loc.ToString());
    }

    /// <summary>Child <paramref name="i"/>'s copy's counters: [kind][child] (absent xattrs are zeros).</summary>
    private async ValueTask<Result<long[][]>> ReadCountersAsync(FopContext tctx, int i, Loc loc)
    {
        int n = Children.Count;
        var calls = new ValueTask<Result<byte[]>>[n];
        for (int j = 0; j < n; j++) calls[j] = Children[i].GetxattrAsync(tctx, loc, _pendingNames[j]);
        var m = new long[Pending.Kinds][];
        for (int k = 0; k < Pending.Kinds; k++) m[k] = new long[n];
        Errno err = Errno.OK;
        for (int j = 0; j < n; j++)
        {
            var x = await calls[j].ConfigureAwait(false);
            if (x.Ok) for (int k = 0; k < Pending.Kinds; k++) m[k][j] = Pending.Read(x.Value, k);
            else if (x.Error != Errno.ENODATA && err == Errno.OK) err = x.Error;
        }
        return err == Errno.OK ? m : err;
    }

    /// <summary>Of <paramref name="among"/>, the copies with the biggest size and, among those, the latest mtime.</summary>
    private static uint Biggest(uint among, Result<Iatt>[]? iatts)
    {
        if (iatts is null) return among;
        uint best = 0;
        Iatt top = default;
        for (int i = 0; i < iatts.Length; i++)
        {
            if ((among & (1u << i)) == 0 || !iatts[i].Ok) continue;
            var x = iatts[i].Value;
            int c = best == 0 ? 1 : x.Size != top.Size ? x.Size.CompareTo(top.Size) : Compare(x.Mtime, top.Mtime);
            if (c > 0) { best = 1u << i; top = x; }
            else if (c == 0) best |= 1u << i;
        }
        return best == 0 ? among : best;
    }

    private static int Compare(Timespec a, Timespec b) => a.Sec != b.Sec ? a.Sec.CompareTo(b.Sec) : a.Nsec.CompareTo(b.Nsec);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: {Object} has GFID {GfidA} on {ChildA} but {GfidB} on {ChildB}: EIO until an administrator removes the wrong copy")]
    private static partial void LogMismatch(ILogger log, string name, string @object, string childA, string gfidA, string childB, string gfidB);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: {Object} is in split brain (its copies blame each other): EIO until it is resolved (graft heal --split-brain-source, or favorite-child-policy)")]
    private static partial void LogSplitBrain(ILogger log, string name, string @object);
}
