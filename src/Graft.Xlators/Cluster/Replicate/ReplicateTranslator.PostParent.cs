using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// The parent's attributes a create or unlink hands up (FopContext.PostParent; performance/md-cache answers the
// kernel's next getattr of the directory with them). Every copy reports its own directory, and a stat of the
// directory reads one copy (Reads.cs): the one handed up is the report of the copy that stat would read first, so
// md-cache answers as the stat would have. Each copy's call gets a context of its own, as the copies answer at
// once and each sets PostParent on the context it was given.
public sealed partial class ReplicateTranslator
{
    /// <summary>Runs copy <paramref name="i"/>'s part of an entry change with a context of its own; keeps what it reported of the parent.</summary>
    private static async ValueTask<Result<T>> OnCopyAsync<T>(FopContext ctx, Iatt?[] parents, int i, Func<FopContext, ValueTask<Result<T>>> call)
    {
        var own = ctx.CloneForCall();
        own.Graph = ctx.Graph;
        own.ContinueInline = ctx.ContinueInline;
        var r = await call(own).ConfigureAwait(false);
        parents[i] = r.Ok ? own.PostParent : null;
        return r;
    }

    /// <summary>
    /// The parent attributes to hand up after a change in <paramref name="loc"/>'s directory that copies reported
    /// in <paramref name="parents"/>: those of the copy a stat of the directory reads first (by read-policy among
    /// the copies that are up and not blamed, as now); with least-loaded any of those. Null when that copy reported none.
    /// </summary>
    private Iatt? ParentAsRead(in Loc loc, Iatt?[] parents)
    {
        uint readable = Readable(StateOf(loc, parent: true), _allMask);
        if (_readPolicy == ReadPolicy.LeastLoaded)
            for (int i = 0; i < parents.Length; i++) if (parents[i] is null) readable &= ~(1u << i);
        int c = PickReader(readable, loc.Parent?.Gfid ?? loc.ParentGfid);
        return c >= 0 ? parents[c] : null;
    }
}
