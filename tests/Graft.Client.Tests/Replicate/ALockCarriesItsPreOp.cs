using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Over bricks with features/locks, a data or metadata transaction takes each copy's lock and makes
/// its pre-op in one request (inodelk-xattrop), and makes its post-op and gives the lock back in
/// another: two requests per copy, and afterwards every copy is clean and nothing is held.
/// </summary>
public class ALockCarriesItsPreOpAndAnUnlockItsPostOp
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Waits (bounded) until no brick holds a domain lock: an entry change's unlock goes out after its caller's answer.</summary>
    internal static Task NothingHeldAsync(ReplicatedVolume v) => HeldAsync(v, 0);

    /// <summary>Waits (bounded) until every brick holds exactly <paramref name="held"/> domain locks.</summary>
    internal static async Task HeldAsync(ReplicatedVolume v, int held)
    {
        var until = DateTime.UtcNow + Bound;
        while (Enumerable.Range(0, v.Bricks.Count).Any(i => v.Locks(i).Counts.DomainHeld != held))
        {
            Assert.True(DateTime.UtcNow < until, "a domain lock is still held: " + string.Join(", ", Enumerable.Range(0, v.Bricks.Count).Select(i => v.Locks(i).Counts.DomainHeld)));
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_window_holds_each_copys_lock_and_count_and_gives_both_back_when_it_closes()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s", locks: true);
        await v.Volume.WriteAllBytesAsync("/f", "a"u8.ToArray());
        await NothingHeldAsync(v);
        var before = Enumerable.Range(0, 3).Select(i => v.Locks(i).Counts.DomainLockXattrops).ToArray();
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Open))
        {
            await s.WriteAsync("b"u8.ToArray());
            await s.WriteAsync("c"u8.ToArray());
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(1, v.Counter(c, "/f", of: c));
                Assert.Equal(1, v.Locks(c).Counts.DomainHeld);
                Assert.Equal(before[c] + 1, v.Locks(c).Counts.DomainLockXattrops); // the lock and its pre-op, once for both writes
            }
        }
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(0, v.Locks(c).Counts.DomainHeld); // the close waited for the post-op, which gave the lock back with it
            Assert.Equal(before[c] + 2, v.Locks(c).Counts.DomainLockXattrops);
            Assert.Equal("bc", File.ReadAllText(v.On(c, "/f")));
        }
        Assert.True(v.Clean("/f"), "a count was left behind");
    }

    [Fact]
    public async Task A_metadata_change_costs_one_request_per_copy_for_lock_and_pre_op_and_one_for_post_op_and_unlock()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "", locks: true);
        await v.Volume.WriteAllBytesAsync("/f", "a"u8.ToArray());
        await NothingHeldAsync(v);
        var before = Enumerable.Range(0, 3).Select(i => v.Locks(i).Counts.DomainLockXattrops).ToArray();
        await v.Volume.ChmodAsync("/f", 0x1C0);
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(before[c] + 2, v.Locks(c).Counts.DomainLockXattrops);
            Assert.Equal(0, v.Locks(c).Counts.DomainHeld);
            Assert.Equal(0x1C0u, (uint)File.GetUnixFileMode(v.On(c, "/f")));
        }
        Assert.True(v.Clean("/f"), "a count was left behind");
    }
}

/// <summary>
/// A copy whose pre-op fails after its brick granted the lock (a copy that dies between the two, as
/// the brick sees it): features/locks gives that lock back and answers the error, so the copy is
/// left out of the change holding nothing, and the others blame it at once.
/// </summary>
public class ACopyWhosePreOpFailsUnderItsLockHoldsNothing
{
    [Fact]
    public async Task It_is_left_out_blamed_and_unlocked_while_the_others_write()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s", locks: true);
        await v.Volume.WriteAllBytesAsync("/f", "a"u8.ToArray());
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
        // Below b2's features/locks: the add it makes once the lock is granted fails.
        await v.FaultAsync(2, "fail xattrop; fail-count 1");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.Open))
        {
            await s.WriteAsync("b"u8.ToArray());
            for (int c = 0; c < 2; c++)
            {
                Assert.Equal(1, v.Counter(c, "/f", of: c));
                Assert.Equal(1, v.Counter(c, "/f", of: 2)); // blamed before any write
                Assert.Equal(1, v.Locks(c).Counts.DomainHeld);
            }
            Assert.Equal(0, v.Locks(2).Counts.DomainHeld);
            Assert.Equal(0, v.Counter(2, "/f", of: 2));
            Assert.Equal("a", File.ReadAllText(v.On(2, "/f")));
        }
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(0, v.Counter(c, "/f", of: c));
            Assert.Equal(1, v.Counter(c, "/f", of: 2));
            Assert.Equal("b", File.ReadAllText(v.On(c, "/f")));
        }
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
        Assert.Equal(0, v.Locks(2).Counts.DomainBadUnlocks); // nothing was given back twice
    }
}
