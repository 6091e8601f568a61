using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>
/// What distribute last saw of each copy of one directory, for the merged parent attributes of a create or
/// unlink (<see cref="FopContext.PostParent"/>). Guarded by itself.
/// </summary>
internal sealed class DirCopies(int n)
{
    public readonly Iatt[] Attrs = new Iatt[n];
    /// <summary>Environment.TickCount64 when <see cref="Attrs"/>[i] was taken; 0: not known.</summary>
    public readonly long[] SeenAt = new long[n];
    /// <summary>Bumped by every change to the directory other than a create or unlink on one copy: what was
    /// taken before it is not stored after it.</summary>
    public long Generation;
}

// The parent's attributes of a create or unlink (md-cache answers the kernel's next getattr of the directory
// with them). A directory's attributes here are merged over its copies (MergeDir: the lowest-numbered copy's, with the
// latest times), but a create or unlink changes one copy, and its brick reports that copy only. So distribute
// remembers each copy's attributes as its stats and these replies report them, and hands up the merge of what it
// remembers, the changed copy's taken from the reply: the same merge a stat would make at that moment. It hands
// up nothing when any copy that is up was not seen within postparent-max-age, when the fop changed a second copy
// (a link pointer made or removed), or when another change to the directory ran meanwhile.
public sealed partial class DistributeTranslator
{
    private long _postParentMaxAgeMs;

    private Inode? ParentOf(in Loc loc) => loc.Parent ?? (loc.ParentGfid.IsZero ? null : Graph?.Inodes.Find(loc.ParentGfid));

    private DirCopies? CopiesOf(Inode? dir, bool make)
    {
        if (dir is null || (make ? CtxFor(dir) : CtxOf(dir)) is not { } c) return null;
        if (Volatile.Read(ref c.Copies) is { } known) return known;
        if (!make) return null;
        lock (c) return c.Copies ??= new DirCopies(Children.Count);
    }

    /// <summary>Before a read of every copy, or a create or unlink in <paramref name="dir"/>: the generation to store under (-1: store nothing).</summary>
    private long BeginCopies(Inode? dir)
    {
        if (Volatile.Read(ref _postParentMaxAgeMs) <= 0 || CopiesOf(dir, make: true) is not { } c) return -1;
        lock (c) return c.Generation;
    }

    /// <summary>A change to <paramref name="dir"/> that is not a create or unlink on one copy: forget every copy, and what is in flight.</summary>
    private void ForgetCopies(Inode? dir)
    {
        if (CopiesOf(dir, make: false) is not { } c) return;
        lock (c)
        {
            c.Generation++;
            Array.Clear(c.SeenAt);
        }
    }

    /// <summary>Runs a change to the directories <paramref name="a"/>, <paramref name="b"/> and <paramref name="c"/>
    /// (any may be null), forgetting their copies before it (a reply taken meanwhile is not stored) and after it.</summary>
    private async ValueTask<T> ChangingDirsAsync<T>(Inode? a, Inode? b, Inode? c, Func<ValueTask<T>> change)
    {
        ForgetCopies(a);
        ForgetCopies(b);
        ForgetCopies(c);
        try { return await change().ConfigureAwait(false); }
        finally { ForgetCopies(a); ForgetCopies(b); ForgetCopies(c); }
    }

    /// <summary>Each copy's attributes from a read of every copy (<paramref name="subvols"/>[k] answered <paramref name="got"/>[k]).</summary>
    private void NoteCopies(Inode? dir, long generation, int[] subvols, Result<Iatt>[] got)
    {
        if (generation < 0 || CopiesOf(dir, make: false) is not { } c) return;
        long now = Environment.TickCount64;
        lock (c)
        {
            if (c.Generation != generation) return;
            for (int k = 0; k < subvols.Length; k++)
                if (got[k].Ok) Note(c, subvols[k], got[k].Value, now);
        }
    }

    /// <summary>
    /// After a create or unlink in <paramref name="dir"/> that changed copy <paramref name="s"/> only, whose brick
    /// reported <paramref name="reported"/> for it: the directory's merged attributes, or null (see above).
    /// </summary>
    private Iatt? MergedParent(Inode? dir, long generation, int s, Iatt? reported)
    {
        if (generation < 0 || reported is not { } fresh || CopiesOf(dir, make: false) is not { } c) return null;
        long now = Environment.TickCount64, maxAge = Volatile.Read(ref _postParentMaxAgeMs);
        lock (c)
        {
            if (c.Generation != generation) return null;
            Note(c, s, fresh, now);
            Iatt? merged = null;
            for (int i = 0; i < Children.Count; i++)
            {
                if (!IsUp(i)) continue; // a stat skips a copy that does not answer
                if (c.SeenAt[i] == 0 || now - c.SeenAt[i] > maxAge) return null;
                merged = merged is { } m ? MergeDir(m, c.Attrs[i]) : c.Attrs[i];
            }
            return merged;
        }
    }

    /// <summary>Keeps a copy's attributes unless those kept are of a later change (replies in flight cross).</summary>
    private static void Note(DirCopies c, int i, in Iatt a, long now)
    {
        if (c.SeenAt[i] != 0 && Later(c.Attrs[i].Ctime, a.Ctime)) return;
        c.Attrs[i] = a;
        c.SeenAt[i] = now;
    }

    /// <summary>Another client changed an object or a name in a directory: what is kept of its copies is stale.</summary>
    public override void Upcall(in UpcallNotice notice, Translator from)
    {
        var inode = Graph?.Inodes.Find(notice.Gfid);
        ForgetCopies(inode);
        // A directory whose attributes or xattrs another client changed may have a new layout (a rebalance's
        // fix-layout): lookups in it must not go on placing names by the old one while the kernel trusts its entries.
        if (notice.Kind == UpcallKind.Inode && CtxOf(inode) is { Layout: not null } c) c.LayoutStale = true;
        NotifyUpcall(notice);
    }
}
