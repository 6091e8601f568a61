using Graft.Core;
using Graft.Xlators.Features.Locks;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>
/// inodelk-xattrop on features/locks: a lock request makes its add only once the lock is granted
/// (after a wait, if it waited), and gives the lock back when the add fails, so an error always means
/// nothing is held; an unlock request makes its add first, then gives the lock back whatever the add
/// answered.
/// </summary>
public class InodelkXattropCountsUnderTheLock
{
    /// <summary>A storage stand-in that keeps xattrop counters in memory and can be made to fail them.</summary>
    private sealed class CounterLeaf : Translator
    {
        public static readonly XlatorSpec Spec = new("test/counter-leaf", () => new CounterLeaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };
        public int Adds;
        public Errno Fail = Errno.OK;
        private readonly Dictionary<string, long> _values = [];

        public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
        {
            Interlocked.Increment(ref Adds);
            if (Fail != Errno.OK) return new(new Result<byte[]>(Fail));
            lock (_values)
            {
                var v = _values.GetValueOrDefault(name) + System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(deltas.Span);
                _values[name] = v;
                var bytes = new byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, v);
                return new(new Result<byte[]>(bytes));
            }
        }
    }

    private const string Domain = "replicate", Counter = "trusted.graft.pending.b0";
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 2, 200);

    private static async Task<(LocksTranslator Locks, CounterLeaf Leaf)> CreateAsync()
    {
        var g = Graph.Linear(1, (CounterLeaf.Spec, "leaf", null), (LocksTranslator.Spec, "locks", new Dictionary<string, string> { ["lock-grace"] = "0" }));
        await g.InitAsync(CancellationToken.None);
        return ((LocksTranslator)g.Top, (CounterLeaf)g.Translators[0]);
    }

    private static readonly Gfid File = Gfid.NewGfid();

    private static byte[] Delta(long d)
    {
        var b = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(b, d);
        return b;
    }

    private static Task<Result<byte[]>> LockXattrop(LocksTranslator l, Proc p, Cmd cmd, long delta) =>
        l.InodeLkXattropAsync(DomainLockCalls.Ctx(p), Loc.Nameless(File), Domain, cmd, LockType.Write, 0, 0, Counter, Delta(delta)).AsTask();

    private static Task<Errno> Inodelk(LocksTranslator l, Proc p, Cmd cmd) =>
        l.InodeLkAsync(DomainLockCalls.Ctx(p), Loc.Nameless(File), Domain, cmd, LockType.Write, 0, 0).AsTask();

    [Fact]
    public async Task A_lock_request_adds_under_the_lock_it_took()
    {
        var (locks, leaf) = await CreateAsync();
        var r = await LockXattrop(locks, A, Cmd.Lock, 1);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Delta(1), r.Value);
        Assert.Equal(1, leaf.Adds);
        Assert.Equal(1, locks.Counts.DomainHeld);
        Assert.Equal(Errno.EAGAIN, await Inodelk(locks, B, Cmd.Lock));
        Assert.Equal(1, locks.Counts.DomainLockXattrops);
    }

    [Fact]
    public async Task A_blocking_request_adds_only_once_it_is_granted()
    {
        var (locks, leaf) = await CreateAsync();
        Assert.Equal(Errno.OK, await Inodelk(locks, A, Cmd.Lock));
        var waiting = LockXattrop(locks, B, Cmd.LockBlocking, 1);
        var until = DateTime.UtcNow + LocksHarness.Bound;
        while (locks.Counts.DomainWaiting != 1)
        {
            Assert.True(DateTime.UtcNow < until, "the request never queued");
            await Task.Delay(5);
        }
        Assert.Equal(0, leaf.Adds); // not while another owner holds the lock
        Assert.Equal(Errno.OK, await Inodelk(locks, A, Cmd.Unlock));
        var r = await waiting.WaitAsync(LocksHarness.Bound);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(1, leaf.Adds);
        Assert.Equal(Errno.EAGAIN, await Inodelk(locks, A, Cmd.Lock)); // B holds it now
    }

    [Fact]
    public async Task A_busy_lock_adds_nothing()
    {
        var (locks, leaf) = await CreateAsync();
        Assert.Equal(Errno.OK, await Inodelk(locks, A, Cmd.Lock));
        Assert.Equal(Errno.EAGAIN, (await LockXattrop(locks, B, Cmd.Lock, 1)).Error);
        Assert.Equal(0, leaf.Adds);
    }

    [Fact]
    public async Task A_failed_add_gives_the_lock_back()
    {
        var (locks, leaf) = await CreateAsync();
        leaf.Fail = Errno.EIO;
        Assert.Equal(Errno.EIO, (await LockXattrop(locks, A, Cmd.Lock, 1)).Error);
        Assert.Equal(1, leaf.Adds);
        Assert.Equal(0, locks.Counts.DomainHeld);
        Assert.Equal(Errno.OK, await Inodelk(locks, B, Cmd.Lock));
    }

    [Fact]
    public async Task An_unlock_request_adds_then_gives_the_lock_back_even_when_the_add_fails()
    {
        var (locks, leaf) = await CreateAsync();
        Assert.True((await LockXattrop(locks, A, Cmd.Lock, 1)).Ok);
        var r = await LockXattrop(locks, A, Cmd.Unlock, -1);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Delta(0), r.Value);
        Assert.Equal(0, locks.Counts.DomainHeld);

        Assert.True((await LockXattrop(locks, A, Cmd.Lock, 1)).Ok);
        leaf.Fail = Errno.EIO;
        Assert.Equal(Errno.EIO, (await LockXattrop(locks, A, Cmd.Unlock, -1)).Error);
        Assert.Equal(0, locks.Counts.DomainHeld);
        Assert.Equal(Errno.OK, await Inodelk(locks, B, Cmd.Lock));
        Assert.Equal(4, leaf.Adds);
    }

    [Fact]
    public async Task A_request_without_a_counter_name_is_refused()
    {
        var (locks, leaf) = await CreateAsync();
        var r = await locks.InodeLkXattropAsync(DomainLockCalls.Ctx(A), Loc.Nameless(File), Domain, Cmd.Lock, LockType.Write, 0, 0, null, Delta(1));
        Assert.Equal(Errno.EINVAL, r.Error);
        Assert.Equal(0, locks.Counts.DomainHeld);
        Assert.Equal(0, leaf.Adds);
    }
}
