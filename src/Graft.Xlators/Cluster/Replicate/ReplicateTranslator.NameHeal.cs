using System.Numerics;
using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Cluster.Replicate;

// A name that some copies of a directory have and others lack while no counter blames any of them:
// a client died between the copies of a namespace change made without pre-op (optimistic-change-log).
// No copy is known to be right, so the name is only ever added where it is missing, never removed
// (a conservative merge): an unacknowledged create is completed, an unacknowledged unlink undone, an
// unacknowledged rename leaves both names. Found by a lookup of the name, as nothing else records it.
public sealed partial class ReplicateTranslator
{
    /// <summary>
    /// The lookup of <paramref name="name"/> in <paramref name="parent"/> did not find it on every
    /// copy that is up: the directory's heal first (its counters may say who is right); if they
    /// blame nobody, the name is added to the copies that lack it, under the name's lock.
    /// </summary>
    private async Task HealNameAsync(Gfid parent, string name)
    {
        try
        {
            if (await StartHeal(parent).ConfigureAwait(false) != HealOutcome.Clean) return;
            var ctx = HealContext();
            var dir = Loc.Nameless(parent);
            TxnTarget[] target = [new(dir, new ReplInode(), name)];
            if (Graph?.Inodes.Find(parent) is { } p) await CloseLeaseAsync(StateOf(p), inline: false).ConfigureAwait(false); // the name's lock would wait for it
            var lctx = LockContext(ctx);
            uint locked = await LockAsync(lctx, target, Pending.Entry, UpMask).ConfigureAwait(false);
            try { await MergeNameAsync(ctx, dir, name, locked).ConfigureAwait(false); }
            finally { await UnlockAsync(lctx, target, Pending.Entry, locked).ConfigureAwait(false); }
        }
        catch (Exception e) { Graph?.ReportError(this, $"heal of name {name} in {parent} failed", e); }
    }

    private async ValueTask MergeNameAsync(FopContext ctx, Loc dir, string name, uint on)
    {
        var at = Loc.Child(dir.Gfid, name);
        var r = await FanOutAsync(on, i => Children[i].LookupAsync(ctx, at)).ConfigureAwait(false);
        uint have = Succeeded(r), lack = 0;
        for (int i = 0; i < r.Length; i++) if ((on & (1u << i)) != 0 && r[i].Error == Errno.ENOENT) lack |= 1u << i;
        if (have == 0 || lack == 0) return; // settled meanwhile (the change in flight finished)
        int src = BitOperations.TrailingZeroCount(have);
        var gfid = r[src].Value.Gfid;
        for (int i = 0; i < r.Length; i++)
            if ((have & (1u << i)) != 0 && r[i].Value.Gfid != gfid) return; // a GFID mismatch: lookup reports it, not ours to settle
        // Only while the directory's counters still blame nobody: else its own heal knows better.
        var counters = await FanOutAsync(on, i => ReadCountersAsync(ctx, i, dir)).ConfigureAwait(false);
        for (int i = 0; i < counters.Length; i++)
        {
            if ((on & (1u << i)) == 0) continue;
            if (!counters[i].Ok) return;
            foreach (var c in counters[i].Value[Pending.Entry]) if (c != 0) return;
        }
        var made = await FanOutAsync(lack, i => MakeLikeAsync(ctx, src, i, dir, name, new DirEntry { Name = name, Gfid = gfid })).ConfigureAwait(false);
        uint done = Succeeded(made);
        if (done == 0) return;
        Interlocked.Increment(ref _namesMerged);
        LogNameMerged(_log, Name, at.ToString(), ChildNames(have), ChildNames(done));
        _ = StartHeal(gfid);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name}: {Object} was only on {Have}, with nothing pending (a namespace change cut off between the copies): added to {Sinks}")]
    private static partial void LogNameMerged(ILogger log, string name, string @object, string have, string sinks);
}
