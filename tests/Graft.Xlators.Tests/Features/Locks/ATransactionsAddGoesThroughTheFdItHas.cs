using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Features.Locks;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// features/locks makes a created file's pre-op (create-inodelk-xattrop) and a released fd's post-op
/// (release-inodelk-xattrop, finodelk-xattrop) through the fd it has, as fxattrop, so the brick does not look
/// the object up again by its handle; below a translator without fxattrop (ENOSYS) it makes them by loc, as before.
/// </summary>
public class ATransactionsAddGoesThroughTheFdItHas
{
    private sealed class Leaf : Translator
    {
        public static readonly XlatorSpec Spec = new("test/fd-add-leaf", () => new Leaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
        public bool HasFxattrop = true;
        public long Value;
        public int ByLoc, ByFd, Releases;

        public override ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd) =>
            new(new Result<Iatt>(new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG | 0x1a4 }));

        public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
        {
            Interlocked.Increment(ref ByLoc);
            return new(Add(deltas));
        }

        public override ValueTask<Result<byte[]>> FxattropAsync(FopContext ctx, Fd fd, string name, ReadOnlyMemory<byte> deltas)
        {
            if (!HasFxattrop) return new(new Result<byte[]>(Errno.ENOSYS));
            Interlocked.Increment(ref ByFd);
            return new(Add(deltas));
        }

        private Result<byte[]> Add(ReadOnlyMemory<byte> deltas)
        {
            var v = Interlocked.Add(ref Value, BinaryPrimitives.ReadInt64BigEndian(deltas.Span));
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(bytes, v);
            return bytes;
        }

        public override ValueTask ReleaseAsync(Fd fd)
        {
            Interlocked.Increment(ref Releases);
            return ValueTask.CompletedTask;
        }
    }

    private const string Domain = "replicate", Counter = "trusted.graft.pending.b0";
    private const ulong TransactionOwner = 0x6166720000000002;
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 2, 200);

    private static async Task<(LocksTranslator Locks, Leaf Leaf, Fd Fd)> CreatedAsync(bool hasFxattrop)
    {
        var g = Graph.Linear(1, (Leaf.Spec, "leaf", null), (LocksTranslator.Spec, "locks", new Dictionary<string, string> { ["lock-grace"] = "0" }));
        await g.InitAsync(CancellationToken.None);
        var (locks, leaf) = ((LocksTranslator)g.Top, (Leaf)g.Translators[0]);
        leaf.HasFxattrop = hasFxattrop;
        var fd = Graft.Xlators.Tests.Protocol.FopScenario.NewFd(g.Inodes, new Iatt { Gfid = Gfid.NewGfid(), Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        var r = await locks.CreateInodeLkXattropAsync(DomainLockCalls.Ctx(A), Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, fd.Inode.Gfid, fd,
                                                      Domain, new FileLock { Type = LockType.Write, Owner = TransactionOwner }, Counter, Delta(1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Errno.OK, r.Value.Lock);
        return (locks, leaf, fd);
    }

    private static byte[] Delta(long d)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, d);
        return b;
    }

    private static FopContext Owner()
    {
        var ctx = DomainLockCalls.Ctx(A);
        ctx.LockOwner = TransactionOwner;
        return ctx;
    }

    private static async Task<Errno> OtherTriesAsync(LocksTranslator l, Gfid gfid)
    {
        var e = await l.InodeLkAsync(DomainLockCalls.Ctx(B), Loc.Nameless(gfid), Domain, Cmd.Lock, LockType.Write, 0, 0);
        if (e == Errno.OK) Assert.Equal(Errno.OK, await l.InodeLkAsync(DomainLockCalls.Ctx(B), Loc.Nameless(gfid), Domain, Cmd.Unlock, LockType.Write, 0, 0));
        return e;
    }

    [Fact]
    public async Task A_created_files_pre_op_and_its_releases_post_op_go_through_the_fd()
    {
        var (locks, leaf, fd) = await CreatedAsync(hasFxattrop: true);
        Assert.Equal((1, 0, 1L), (leaf.ByFd, leaf.ByLoc, leaf.Value));
        var r = await locks.ReleaseInodeLkXattropAsync(Owner(), fd, Domain, LockType.Write, 0, 0, Counter, Delta(-1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal((2, 0, 0L, 1), (leaf.ByFd, leaf.ByLoc, leaf.Value, leaf.Releases));
        Assert.Equal(Errno.OK, await OtherTriesAsync(locks, fd.Inode.Gfid));
    }

    [Fact]
    public async Task Finodelk_xattrop_unlocks_after_its_add_through_the_fd()
    {
        var (locks, leaf, fd) = await CreatedAsync(hasFxattrop: true);
        Assert.Equal(Errno.EAGAIN, await OtherTriesAsync(locks, fd.Inode.Gfid));
        var r = await locks.FinodeLkXattropAsync(Owner(), fd, Domain, Cmd.Unlock, LockType.Write, 0, 0, Counter, Delta(-1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal((2, 0, 0L, 0), (leaf.ByFd, leaf.ByLoc, leaf.Value, leaf.Releases));
        Assert.Equal(Errno.OK, await OtherTriesAsync(locks, fd.Inode.Gfid));
        // And a lock with its pre-op, through the fd: held once the add is made.
        r = await locks.FinodeLkXattropAsync(Owner(), fd, Domain, Cmd.Lock, LockType.Write, 0, 0, Counter, Delta(1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal((3, 1L), (leaf.ByFd, leaf.Value));
        Assert.Equal(Errno.EAGAIN, await OtherTriesAsync(locks, fd.Inode.Gfid));
    }

    [Fact]
    public async Task Below_a_translator_without_fxattrop_the_adds_go_by_loc()
    {
        var (locks, leaf, fd) = await CreatedAsync(hasFxattrop: false);
        Assert.Equal((0, 1, 1L), (leaf.ByFd, leaf.ByLoc, leaf.Value));
        var r = await locks.ReleaseInodeLkXattropAsync(Owner(), fd, Domain, LockType.Write, 0, 0, Counter, Delta(-1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal((0, 2, 0L, 1), (leaf.ByFd, leaf.ByLoc, leaf.Value, leaf.Releases));
    }
}
