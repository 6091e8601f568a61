using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Features.Locks;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// create-inodelk-xattrop on features/locks: the new file's lock is taken on its GFID before the file is
/// made (another owner asking for it while the create runs is refused), the create goes down, then the
/// add (as root for a trusted caller, as the caller for an untrusted one); a busy lock opens the file
/// without it, a failed create or a failed add holds nothing. release-inodelk-xattrop makes the add, gives
/// the lock back, then releases the fd.
/// </summary>
public class ACreateTakesItsFilesLockBeforeMakingIt
{
    /// <summary>A storage stand-in: creates by remembering the GFID, keeps counters in memory, records what it saw.</summary>
    private sealed class Leaf : Translator
    {
        public static readonly XlatorSpec Spec = new("test/create-leaf", () => new Leaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
        public Errno FailCreate = Errno.OK, FailAdd = Errno.OK;
        public readonly HashSet<Gfid> Files = [];
        public long Value;
        public int Adds, Releases;
        public uint AddUid = uint.MaxValue;
        /// <summary>Run inside the create, before the file exists here.</summary>
        public Func<Task>? DuringCreate;
        /// <summary>Run inside the release.</summary>
        public Action? DuringRelease;

        public override async ValueTask<Result<Iatt>> CreateAsync(FopContext ctx, Loc loc, int flags, uint mode, uint umask, Gfid gfid, Fd fd)
        {
            if (DuringCreate is { } d) await d();
            if (FailCreate != Errno.OK) return FailCreate;
            lock (Files) Files.Add(gfid);
            return new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG | 0x1a4 };
        }

        public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
        {
            Interlocked.Increment(ref Adds);
            AddUid = ctx.Uid;
            if (FailAdd != Errno.OK) return new(new Result<byte[]>(FailAdd));
            var v = Interlocked.Add(ref Value, BinaryPrimitives.ReadInt64BigEndian(deltas.Span));
            var bytes = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(bytes, v);
            return new(new Result<byte[]>(bytes));
        }

        public override ValueTask ReleaseAsync(Fd fd)
        {
            DuringRelease?.Invoke();
            Interlocked.Increment(ref Releases);
            return ValueTask.CompletedTask;
        }
    }

    private const string Domain = "replicate", Counter = "trusted.graft.pending.b0";
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 2, 200);
    private const ulong TransactionOwner = 0x6166720000000001;

    private static async Task<(LocksTranslator Locks, Leaf Leaf, Graph Graph)> CreateAsync()
    {
        var g = Graph.Linear(1, (Leaf.Spec, "leaf", null), (LocksTranslator.Spec, "locks", new Dictionary<string, string> { ["lock-grace"] = "0" }));
        await g.InitAsync(CancellationToken.None);
        return ((LocksTranslator)g.Top, (Leaf)g.Translators[0], g);
    }

    private static byte[] Delta(long d)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, d);
        return b;
    }

    private static FopContext Caller(uint uid = 1000, bool untrusted = false)
    {
        var c = DomainLockCalls.Ctx(A);
        c.Uid = uid;
        c.Gid = uid;
        c.Untrusted = untrusted;
        return c;
    }

    private static Fd NewFd(Graph g, Gfid gfid) =>
        Graft.Xlators.Tests.Protocol.FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);

    private static Task<Result<LockedCreate>> Create(LocksTranslator l, FopContext ctx, Fd fd) =>
        l.CreateInodeLkXattropAsync(ctx, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, fd.Inode.Gfid, fd, Domain,
                                    new FileLock { Type = LockType.Write, Owner = TransactionOwner }, Counter, Delta(1)).AsTask();

    /// <summary>Another owner's non-blocking inodelk on <paramref name="gfid"/>, given back at once when granted.</summary>
    private static async Task<Errno> OtherTriesAsync(LocksTranslator l, Gfid gfid)
    {
        var e = await l.InodeLkAsync(DomainLockCalls.Ctx(B), Loc.Nameless(gfid), Domain, Cmd.Lock, LockType.Write, 0, 0);
        if (e == Errno.OK) Assert.Equal(Errno.OK, await l.InodeLkAsync(DomainLockCalls.Ctx(B), Loc.Nameless(gfid), Domain, Cmd.Unlock, LockType.Write, 0, 0));
        return e;
    }

    [Fact]
    public async Task The_lock_is_held_before_the_file_exists_and_the_add_follows_the_create()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        Errno duringCreate = Errno.OK;
        leaf.DuringCreate = async () => duringCreate = await OtherTriesAsync(locks, fd.Inode.Gfid);
        var r = await Create(locks, Caller(), fd);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Errno.OK, r.Value.Lock);
        Assert.Equal(Errno.EAGAIN, duringCreate);                 // nobody could lock the file while it was being made
        Assert.Contains(fd.Inode.Gfid, leaf.Files);
        Assert.Equal(1, leaf.Value);
        Assert.Equal(0u, leaf.AddUid);                             // a trusted caller's add is made as root
        Assert.Equal(Errno.EAGAIN, await OtherTriesAsync(locks, fd.Inode.Gfid));
        Assert.Equal(1, locks.Counts.DomainHeld);
        Assert.Equal(1, locks.Counts.DomainLockedCreates);
        Assert.Equal(1, locks.Counts.DomainLockXattrops);
    }

    [Fact]
    public async Task A_release_makes_the_add_then_gives_the_lock_back_then_releases_the_fd()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        Assert.Equal(Errno.OK, (await Create(locks, Caller(), fd)).Value.Lock);
        int heldAtRelease = -1;
        leaf.DuringRelease = () => heldAtRelease = locks.Counts.DomainHeld;
        var ctx = DomainLockCalls.Ctx(A);
        ctx.LockOwner = TransactionOwner;
        var r = await locks.ReleaseInodeLkXattropAsync(ctx, fd, Domain, LockType.Write, 0, 0, Counter, Delta(-1));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(0, BinaryPrimitives.ReadInt64BigEndian(r.Value));
        Assert.Equal(0, leaf.Value);
        Assert.Equal(1, leaf.Releases);
        Assert.Equal(0, heldAtRelease);                            // unlocked before the release went down
        Assert.Equal(Errno.OK, await OtherTriesAsync(locks, fd.Inode.Gfid));
        Assert.Equal(0, locks.Counts.DomainBadUnlocks);
    }

    [Fact]
    public async Task A_busy_lock_opens_the_file_without_it_and_adds_nothing()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        Assert.Equal(Errno.OK, await locks.InodeLkAsync(DomainLockCalls.Ctx(B), Loc.Nameless(fd.Inode.Gfid), Domain, Cmd.Lock, LockType.Write, 0, 0));
        var r = await Create(locks, Caller(), fd);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Errno.EAGAIN, r.Value.Lock);
        Assert.Contains(fd.Inode.Gfid, leaf.Files);
        Assert.Equal(0, leaf.Adds);
        Assert.Equal(1, locks.Counts.DomainHeld);                  // B's only
    }

    [Fact]
    public async Task A_failed_create_holds_nothing_and_adds_nothing()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        leaf.FailCreate = Errno.ENOENT;
        var r = await Create(locks, Caller(), fd);
        Assert.Equal(Errno.ENOENT, r.Error);
        Assert.Equal(0, leaf.Adds);
        Assert.Equal(0, locks.Counts.DomainHeld);
        Assert.Equal(Errno.OK, await OtherTriesAsync(locks, fd.Inode.Gfid));
    }

    [Fact]
    public async Task A_failed_add_gives_the_lock_back_and_the_create_still_answers()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        leaf.FailAdd = Errno.EIO;
        var r = await Create(locks, Caller(), fd);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Errno.EIO, r.Value.Lock);
        Assert.Contains(fd.Inode.Gfid, leaf.Files);
        Assert.Equal(0, locks.Counts.DomainHeld);
        Assert.Equal(Errno.OK, await OtherTriesAsync(locks, fd.Inode.Gfid));
    }

    [Fact]
    public async Task An_untrusted_callers_add_is_made_as_that_caller()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        var r = await Create(locks, Caller(uid: 1000, untrusted: true), fd);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(1000u, leaf.AddUid);
    }

    [Fact]
    public async Task Bad_arguments_are_refused_before_anything_is_made()
    {
        var (locks, leaf, g) = await CreateAsync();
        var fd = NewFd(g, Gfid.NewGfid());
        var r = await locks.CreateInodeLkXattropAsync(Caller(), Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, fd.Inode.Gfid, fd, Domain,
                                                      new FileLock { Type = LockType.Unlock, Owner = TransactionOwner }, Counter, Delta(1));
        Assert.Equal(Errno.EINVAL, r.Error);
        r = await locks.CreateInodeLkXattropAsync(Caller(), Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, fd.Inode.Gfid, fd, Domain,
                                                  new FileLock { Type = LockType.Write, Owner = TransactionOwner }, "", Delta(1));
        Assert.Equal(Errno.EINVAL, r.Error);
        Assert.Empty(leaf.Files);
        Assert.Equal(0, locks.Counts.DomainHeld);
    }
}
