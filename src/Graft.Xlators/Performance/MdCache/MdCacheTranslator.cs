using Graft.Core;

namespace Graft.Xlators.Performance.MdCache;

/// <summary>
/// performance/md-cache: answers stat of a directory from the attributes the brick reported for it right
/// after this graph's last create or unlink in it (<see cref="FopContext.PostParent"/>), for at most
/// <c>timeout</c>. After every such change the kernel drops its copy of the directory's attributes and asks
/// again before the next lookup in it (it checks permissions itself); without this layer that is one more
/// round trip per create and per unlink.
/// </summary>
/// <remarks>
/// What keeps the cached attributes right:
/// - they come from the brick, taken after the change under the directory's lock (storage/posix), never
///   computed here; of two replies in flight the one with the later ctime wins;
/// - every other fop through this graph that changes a directory (mkdir, rmdir, mknod, symlink, link,
///   rename, setattr, xattrs) drops the entry before and after it, and a create or unlink reply taken before
///   such a drop is not stored;
/// - what other clients change is seen within <c>timeout</c> plus the kernel's attribute timeout: the
///   entry is served for <c>timeout</c> only, and a stat of the directory past it goes to the brick;
/// - a cluster translator below hands up what its own stat of the directory would answer (distribute: merged
///   over the copies; replicate: the copy a stat reads from), or nothing, and then nothing is cached.
/// </remarks>
public sealed partial class MdCacheTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("performance/md-cache", () => new MdCacheTranslator(),
    [
        new("timeout", OptionKind.Time, "1", "how long a directory's attributes reported by its last create or unlink answer stat")
            { Min = 0, Max = 60_000, Runtime = true },
        new("enable", OptionKind.Bool, "on", "off sends every stat to the layers below") { Runtime = true },
    ], "answers stat of a directory from the attributes its last create or unlink reported")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private long _timeoutMs;
    private volatile bool _enabled = true;
    private long _hits, _stores;

    /// <summary>Stats answered from the cache.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Directory attributes stored from create and unlink replies.</summary>
    public long Stores => Interlocked.Read(ref _stores);

    protected override void ApplyOptions(OptionValues o)
    {
        Volatile.Write(ref _timeoutMs, o.GetLong("timeout"));
        _enabled = o.GetBool("enable");
    }

    /// <summary>One directory's cached attributes. Guarded by itself.</summary>
    private sealed class Entry
    {
        public Iatt Attrs;
        public long ValidUntilMs; // Environment.TickCount64; 0: nothing valid
        public long Generation;   // bumped by every change that was not a create or unlink with attributes
    }

    private Entry? Find(Inode? dir) => dir?.GetCtx(this) as Entry;

    private Inode? ParentOf(in Loc loc) => loc.Parent ?? (loc.ParentGfid.IsZero ? null : Graph?.Inodes.Find(loc.ParentGfid));

    /// <summary>Before a create or unlink in <paramref name="dir"/>: its entry stops answering; returns the generation to store under.</summary>
    private long Begin(Inode? dir)
    {
        if (dir is null || !_enabled) return -1;
        var e = dir.GetCtx(this) as Entry ?? dir.GetOrSetCtx(this, new Entry());
        lock (e)
        {
            e.ValidUntilMs = 0;
            return e.Generation;
        }
    }

    /// <summary>After a create or unlink: the attributes the brick reported, unless something else changed the directory meanwhile.</summary>
    private void Store(Inode? dir, long generation, Iatt? attrs)
    {
        if (generation < 0 || attrs is not { } a || Find(dir) is not { } e) return;
        long timeout = Volatile.Read(ref _timeoutMs);
        if (timeout <= 0) return;
        lock (e)
        {
            if (e.Generation != generation) return;
            if (e.ValidUntilMs != 0 && Later(e.Attrs.Ctime, a.Ctime)) return; // a reply of a later change is there already
            e.Attrs = a;
            e.ValidUntilMs = Environment.TickCount64 + timeout;
        }
        Interlocked.Increment(ref _stores);
    }

    private static bool Later(Timespec x, Timespec y) => x.Sec > y.Sec || (x.Sec == y.Sec && x.Nsec > y.Nsec);

    /// <summary>Any other change to <paramref name="inode"/>: its entry stops answering, and replies taken before now are not stored.</summary>
    private void Invalidate(Inode? inode)
    {
        if (Find(inode) is not { } e) return;
        lock (e)
        {
            e.ValidUntilMs = 0;
            e.Generation++;
        }
    }

    private bool TryCached(Inode? inode, out Iatt attrs)
    {
        attrs = default;
        if (!_enabled || Find(inode) is not { } e) return false;
        lock (e)
        {
            if (e.ValidUntilMs == 0 || Environment.TickCount64 >= e.ValidUntilMs) return false;
            attrs = e.Attrs;
        }
        Interlocked.Increment(ref _hits);
        return true;
    }
}
