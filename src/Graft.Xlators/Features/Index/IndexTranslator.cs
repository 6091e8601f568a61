using Graft.Core;
using Graft.Xlators.Storage.Posix;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Features.Index;

/// <summary>
/// features/index: the brick's index of objects that need heal, so a heal pass finds them without
/// walking the tree. It watches xattrop on cluster/replicate's pending counters
/// (<c>trusted.graft.pending.*</c>): an object is recorded when an xattrop leaves any of its pending
/// counters non-zero, and forgotten when an xattrop leaves all of them zero. A trusted client reads
/// the index with getxattr of <see cref="ListKey"/> on the root (docs/replicate.md, "Index").
/// </summary>
/// <remarks>
/// Each object's xattrop and index change run under one of a few striped async locks, so two
/// xattrops on one object (on two of its counters) cannot leave the index saying the opposite of
/// the counters: the second one's decision sees the first one's counters and index entry.
/// </remarks>
public sealed partial class IndexTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("features/index", () => new IndexTranslator(),
    [
        new("index-directory", OptionKind.Path, null,
            "where the index is kept (its 'pending' subdirectory holds one empty file per GFID); put it in the brick's private .graft directory") { Required = true },
        new("list-max", OptionKind.Int, "4096",
            "most GFIDs one getxattr of the index key answers (16 bytes each); the caller asks again from the last one") { Min = 1, Max = 65536, Runtime = true },
    ], "records the objects whose pending (heal) counters are non-zero, in an index trusted clients can list")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    /// <summary>
    /// The virtual xattr of the root that lists the index: its value is the recorded GFIDs, 16 bytes
    /// each, ascending, at most list-max of them. <c>ListKey + "." + gfid</c> lists those after that
    /// GFID. An empty value: no more.
    /// </summary>
    public const string ListKey = "trusted.graft.index.pending";

    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private PendingIndex? _index;
    private volatile int _listMax = 4096;
    private long _added, _removed, _stale, _failed;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>The index directory's 'pending' subdirectory, once initialised.</summary>
    public string PendingDirectory => _index?.Directory ?? "";

    protected override void ApplyOptions(OptionValues o) => _listMax = o.GetInt("list-max");

    public override async ValueTask InitAsync(CancellationToken ct)
    {
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Features.Index");
        await base.InitAsync(ct).ConfigureAwait(false);
        var dir = Options.GetStringOrNull("index-directory") ?? throw new InvalidOperationException("features/index: option 'index-directory' is required");
        _index = new PendingIndex(Path.Combine(Path.GetFullPath(dir), "pending"));
        _index.Create();
    }

    /// <summary>For state dumps and metrics.</summary>
    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["indexAdded"] = Interlocked.Read(ref _added), ["indexRemoved"] = Interlocked.Read(ref _removed),
        ["indexStaleDropped"] = Interlocked.Read(ref _stale), ["indexUpdateFailed"] = Interlocked.Read(ref _failed),
    };

    private SemaphoreSlim StripeOf(Gfid g) => _stripes[(int)((g.Lo ^ g.Hi) % (ulong)_stripes.Length)];

    private static bool IsPending(string name) => name.StartsWith(PosixTranslator.PendingXattrPrefix, StringComparison.Ordinal);

    private static bool AllZero(ReadOnlySpan<byte> counters)
    {
        foreach (var b in counters) if (b != 0) return false;
        return true;
    }

    public override async ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
    {
        if (!IsPending(name)) return await base.XattropAsync(ctx, loc, name, deltas).ConfigureAwait(false);
        var gfid = loc.Inode?.Gfid ?? loc.Gfid;
        if (gfid.IsZero)
        {
            var found = await base.LookupAsync(ctx, loc).ConfigureAwait(false);
            if (!found.Ok) return found.Error;
            gfid = found.Value.Gfid;
        }
        return await RecordAsync(ctx, loc, null, gfid, name, deltas).ConfigureAwait(false);
    }

    /// <summary>As by loc; the add and the look at the object's other counters go through the open fd (no second lookup of the object below).</summary>
    public override async ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas)
    {
        if (!IsPending(name)) return await base.FxattropAsync(ctx, fd, name, deltas).ConfigureAwait(false);
        return await RecordAsync(ctx, Loc.Of(fd.Inode), fd, fd.Inode.Gfid, name, deltas).ConfigureAwait(false);
    }

    /// <summary>
    /// The xattrop of a pending counter (by <paramref name="fd"/> when given, else by <paramref name="loc"/>) and
    /// the index change that follows it, under the object's stripe.
    /// </summary>
    private async ValueTask<Result<byte[]>> RecordAsync(FopContext ctx, Loc loc, Fd? fd, Gfid gfid, string name, ReadOnlyMemory<byte> deltas)
    {
        var stripe = StripeOf(gfid);
        await stripe.WaitAsync(ctx.Cancellation).ConfigureAwait(false);
        try
        {
            var r = fd is null ? await base.XattropAsync(ctx, loc, name, deltas).ConfigureAwait(false)
                               : await base.FxattropAsync(ctx, fd, name, deltas).ConfigureAwait(false);
            if (!r.Ok) return r;
            bool pending = !AllZero(r.Value), changed;
            Errno e;
            if (pending) e = _index!.Add(gfid, out changed);
            else
            {
                // Zero here: forgotten only when every other pending counter is zero too (unknown: kept).
                // Not asked first whether it is recorded: a pre-op recorded it, nearly always.
                if (await AnyOtherPendingAsync(loc, fd, name).ConfigureAwait(false) != false) return r;
                e = _index!.Remove(gfid, out changed);
            }
            if (e != Errno.OK)
            {
                // The counters changed but the index could not follow: the caller must not take the
                // xattrop for done, or a copy needing heal could be missing from the index.
                Interlocked.Increment(ref _failed);
                _log.IndexUpdateFailed(Name, gfid.ToString(), e.Name());
                return e;
            }
            if (changed) Interlocked.Increment(ref pending ? ref _added : ref _removed);
            return r;
        }
        finally { stripe.Release(); }
    }

    /// <summary>Whether another pending counter of the object is non-zero; null when they cannot be read (the entry then stays).</summary>
    private async ValueTask<bool?> AnyOtherPendingAsync(Loc loc, Fd? fd, string except)
    {
        var root = FopContext.Root();
        var names = fd is null ? await base.ListxattrAsync(root, loc).ConfigureAwait(false) : await base.FlistxattrAsync(root, fd).ConfigureAwait(false);
        if (!names.Ok) return null;
        foreach (var n in names.Value)
        {
            if (!IsPending(n) || n == except) continue;
            var v = fd is null ? await base.GetxattrAsync(root, loc, n).ConfigureAwait(false) : await base.FgetxattrAsync(root, fd, n).ConfigureAwait(false);
            if (v.Error == Errno.ENODATA) continue;
            if (!v.Ok) return null;
            if (!AllZero(v.Value)) return true;
        }
        return false;
    }

    public override ValueTask<Result<byte[]>> GetxattrAsync(FopContext ctx, Loc loc, string name)
    {
        if (!name.StartsWith(ListKey, StringComparison.Ordinal) || !(loc.Inode?.Gfid ?? loc.Gfid).IsRoot) return base.GetxattrAsync(ctx, loc, name);
        // Who may see the index: as for any trusted.* xattr, an authenticated root caller only.
        if (ctx.Untrusted || !ctx.IsRoot) return new(new Result<byte[]>(Errno.ENODATA));
        var after = Gfid.Zero;
        if (name.Length > ListKey.Length && (name[ListKey.Length] != '.' || !Gfid.TryParse(name.AsSpan(ListKey.Length + 1), out after)))
            return new(new Result<byte[]>(Errno.ENODATA));
        return ListAsync(after);
    }

    /// <summary>
    /// Up to list-max recorded GFIDs after <paramref name="after"/>. An entry whose object no longer
    /// exists on this brick (removed since; nothing to heal here) is dropped on the way.
    /// </summary>
    private async ValueTask<Result<byte[]>> ListAsync(Gfid after)
    {
        int max = _listMax;
        var found = new List<Gfid>(Math.Min(max, 256));
        var root = FopContext.Root();
        foreach (var g in _index!.After(after))
        {
            if (found.Count == max) break;
            var r = await base.LookupAsync(root, Loc.Nameless(g)).ConfigureAwait(false);
            if (r.Error is Errno.ENOENT or Errno.ESTALE && await DropStaleAsync(g).ConfigureAwait(false)) continue;
            found.Add(g);
        }
        var value = new byte[found.Count * 16];
        for (int i = 0; i < found.Count; i++) found[i].WriteBytes(value.AsSpan(i * 16, 16));
        return value;
    }

    /// <summary>Drops the entry of an object that is gone, under its stripe; false when it is back meanwhile.</summary>
    private async ValueTask<bool> DropStaleAsync(Gfid g)
    {
        var stripe = StripeOf(g);
        await stripe.WaitAsync().ConfigureAwait(false);
        try
        {
            var again = await base.LookupAsync(FopContext.Root(), Loc.Nameless(g)).ConfigureAwait(false);
            if (again.Error is not (Errno.ENOENT or Errno.ESTALE)) return false;
            if (_index!.Remove(g, out var removed) == Errno.OK && removed) Interlocked.Increment(ref _stale);
            return true;
        }
        finally { stripe.Release(); }
    }
}

internal static partial class IndexLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: the heal index could not record the pending state of {Gfid} ({Error}); the xattrop is answered with that error")]
    public static partial void IndexUpdateFailed(this ILogger log, string name, string gfid, string error);
}
