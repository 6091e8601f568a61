using Graft.Core;
using Graft.Xlators.Features.Locks;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>A storage stand-in below features/locks: it only counts the flushes and releases that reach it.</summary>
internal sealed class LockLeaf : Translator
{
    public static readonly XlatorSpec Spec = new("test/lock-leaf", () => new LockLeaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
    public int Flushes, Releases;

    public override ValueTask<Errno> FlushAsync(FopContext ctx, Fd fd) { Interlocked.Increment(ref Flushes); return new(Errno.OK); }
    public override ValueTask ReleaseAsync(Fd fd) { Interlocked.Increment(ref Releases); return ValueTask.CompletedTask; }
    public override ValueTask ReleasedirAsync(Fd fd) { Interlocked.Increment(ref Releases); return ValueTask.CompletedTask; }
}

/// <summary>A process as the brick sees it: the mount it came through, its kernel lock owner, its pid.</summary>
internal sealed record Proc(Guid Mount, ulong Owner, int Pid)
{
    public FopContext Ctx(CancellationToken ct = default) =>
        new() { MountId = Mount, LockOwner = Owner, Pid = Pid, Cancellation = ct };
}

/// <summary>features/locks over a <see cref="LockLeaf"/>, one file, and helpers that read like fcntl/flock calls.</summary>
internal sealed class LocksHarness
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    public static readonly Guid MountA = Guid.NewGuid(), MountB = Guid.NewGuid();

    public required Graph Graph { get; init; }
    public required LocksTranslator Locks { get; init; }
    public required LockLeaf Leaf { get; init; }
    public Gfid File { get; } = Gfid.NewGfid();

    /// <summary>
    /// features/locks with <paramref name="options"/>. No lock grace unless the options ask for one:
    /// without a grace marker the grace would apply to every start and hold the first requests.
    /// </summary>
    public static async Task<LocksHarness> CreateAsync(Dictionary<string, string>? options = null)
    {
        var o = new Dictionary<string, string> { ["lock-grace"] = "0" };
        foreach (var (k, v) in options ?? []) o[k] = v;
        var g = Graph.Linear(1, (LockLeaf.Spec, "leaf", null), (LocksTranslator.Spec, "locks", o));
        await g.InitAsync(CancellationToken.None);
        return new LocksHarness { Graph = g, Locks = (LocksTranslator)g.Top, Leaf = (LockLeaf)g.Translators[0] };
    }

    /// <summary>An fd of <paramref name="gfid"/> (default: the harness's file) in <paramref name="table"/> (default: the graph's).</summary>
    public Fd Open(Gfid? gfid = null, InodeTable? table = null)
    {
        table ??= Graph.Inodes;
        var g = gfid ?? File;
        var inode = table.Link(Gfid.Root, "f-" + g, new Iatt { Gfid = g, Mode = PosixMode.S_IFREG | 0x1A4 });
        var fd = new Fd(inode, OpenFlags.O_RDWR);
        table.Unref(inode);
        return fd;
    }

    public static FileLock Range(Proc p, LockType type, long start, long length) =>
        new() { Type = type, Start = start, Length = length, Pid = p.Pid, Owner = p.Owner };

    public async Task<Errno> SetLk(Proc p, Fd fd, LockType type, long start, long length) =>
        (await Locks.LkAsync(p.Ctx(), fd, LockCmd.SetLk, Range(p, type, start, length))).Error;

    public Task<Result<FileLock>> SetLkW(Proc p, Fd fd, LockType type, long start, long length, CancellationToken ct = default) =>
        Locks.LkAsync(p.Ctx(ct), fd, LockCmd.SetLkW, Range(p, type, start, length)).AsTask();

    public async Task<FileLock> GetLk(Proc p, Fd fd, LockType type, long start, long length)
    {
        var r = await Locks.LkAsync(p.Ctx(), fd, LockCmd.GetLk, Range(p, type, start, length));
        Assert.Equal(Errno.OK, r.Error);
        return r.Value;
    }

    public static FileLock FlockOf(Proc p, LockType type) => new() { Type = type, Pid = p.Pid, Owner = p.Owner, Flock = true };

    public async Task<Errno> Flock(Proc p, Fd fd, LockType type) =>
        (await Locks.LkAsync(p.Ctx(), fd, LockCmd.SetLk, FlockOf(p, type))).Error;

    public Task<Result<FileLock>> FlockW(Proc p, Fd fd, LockType type, CancellationToken ct = default) =>
        Locks.LkAsync(p.Ctx(ct), fd, LockCmd.SetLkW, FlockOf(p, type)).AsTask();

    public async Task<Errno> Flush(Proc p, Fd fd) => await Locks.FlushAsync(p.Ctx(), fd);
}
