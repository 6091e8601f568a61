using Graft.Core;
using static Graft.Core.LockType;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>Many owners at once: what is granted is always mutually exclusive, and no one waits forever.</summary>
public class LockStressTests
{
    private const int Slots = 8, SlotBytes = 8;

    [Fact]
    public async Task Concurrent_owners_taking_two_ranges_each_never_overlap_conflicting_locks_and_never_hang()
    {
        var h = await LocksHarness.CreateAsync();
        var writer = new int[Slots];  // owner index + 1 of the write holder, 0 if none
        var readers = new int[Slots];
        int violations = 0, deadlocks = 0, interrupted = 0, grants = 0;

        async Task Run(int me)
        {
            var rnd = new Random(me * 7919);
            var p = new Proc(me % 2 == 0 ? LocksHarness.MountA : LocksHarness.MountB, (ulong)me + 1, 100 + me);
            var fd = h.Open();
            for (int i = 0; i < 300; i++)
            {
                var claimed = new List<(int Slot, LockType Type)>();
                int first = rnd.Next(Slots), second = (first + 1 + rnd.Next(Slots - 1)) % Slots;
                foreach (var slot in new[] { first, second })
                {
                    var type = rnd.Next(3) == 0 ? Write : Read;
                    using var cts = new CancellationTokenSource();
                    if (rnd.Next(10) == 0) cts.CancelAfter(rnd.Next(3));
                    var r = await h.SetLkW(p, fd, type, slot * SlotBytes, SlotBytes, cts.Token);
                    if (r.Error == Errno.EDEADLK) { Interlocked.Increment(ref deadlocks); break; }
                    if (r.Error == Errno.EINTR) { Interlocked.Increment(ref interrupted); break; }
                    Assert.Equal(Errno.OK, r.Error);
                    Interlocked.Increment(ref grants);
                    if (type == Write)
                    {
                        if (Interlocked.CompareExchange(ref writer[slot], me + 1, 0) != 0 || Volatile.Read(ref readers[slot]) != 0)
                            Interlocked.Increment(ref violations);
                    }
                    else
                    {
                        Interlocked.Increment(ref readers[slot]);
                        if (Volatile.Read(ref writer[slot]) != 0) Interlocked.Increment(ref violations);
                    }
                    claimed.Add((slot, type));
                    await Task.Yield();
                }
                foreach (var (slot, type) in claimed)
                {
                    if (type == Write) Interlocked.CompareExchange(ref writer[slot], 0, me + 1);
                    else Interlocked.Decrement(ref readers[slot]);
                }
                Assert.Equal(Errno.OK, await h.Flush(p, fd)); // close(): drops both ranges at once
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Run(i)))).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, violations);
        Assert.True(grants > 2000, $"only {grants} grants");
        Console.WriteLine($"stress: {grants} grants, {deadlocks} EDEADLK, {interrupted} EINTR");
        var c = h.Locks.Counts;
        Assert.Equal((0, 0, 0), (c.PosixHeld, c.Waiting, c.Files));
        Assert.Equal(deadlocks, (int)c.Deadlocks);
        Assert.Equal(interrupted, (int)c.Cancelled);
    }
}
