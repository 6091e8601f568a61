using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Over bricks with features/locks and every copy up, a create takes the new file's data lock and makes its
/// pre-op with it on each copy (create-inodelk-xattrop), so the file is born inside a write window: its first
/// writes take no lock of their own, and every copy counts itself in a change until the window ends — which is
/// what a client that dies after the create leaves (marked, as an open window). The close ends it with the
/// release of the fd (release-inodelk-xattrop: post-op, unlock and release in one request per copy).
/// </summary>
public class AFileIsBornInItsWriteWindow
{
    /// <summary>No eager entry lock: the directory's entry lock goes with each change, so the domain locks counted are the file's.</summary>
    private const string Options = "entry-lock-delay 0";

    private static long[] Counts(ReplicatedVolume v, Func<Graft.Xlators.Features.Locks.LockCounts, long> pick) =>
        [.. Enumerable.Range(0, v.Bricks.Count).Select(i => pick(v.Locks(i).Counts))];

    [Fact]
    public async Task The_create_takes_each_copys_lock_and_pre_op_and_the_close_gives_both_back_with_the_release()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, Options + "; post-op-delay 10s", locks: true);
        var lockXattrops = Counts(v, c => c.DomainLockXattrops);
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.CreateNew))
        {
            await ALockCarriesItsPreOpAndAnUnlockItsPostOp.HeldAsync(v, 1); // the file's lock (the directory's entry lock goes after the answer)
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(1, v.Locks(c).Counts.DomainLockedCreates);
                Assert.Equal(1, v.Counter(c, "/f", of: c));          // marked from birth: a crash now leaves every copy dirty
                for (int o = 0; o < 3; o++) if (o != c) Assert.Equal(0, v.Counter(c, "/f", of: o));
            }
            await s.WriteAsync("ab"u8.ToArray());
            await s.WriteAsync("cd"u8.ToArray());
            for (int c = 0; c < 3; c++) Assert.Equal(lockXattrops[c] + 1, v.Locks(c).Counts.DomainLockXattrops); // no lock round trip for the writes
            Assert.Equal(1, v.Afr.LockedCreates);
        }
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(0, v.Locks(c).Counts.DomainHeld);          // the close waited for the release that gave it back
            Assert.Equal(lockXattrops[c] + 2, v.Locks(c).Counts.DomainLockXattrops);
            Assert.Equal(0, v.Locks(c).Counts.DomainBadUnlocks);
            Assert.Equal("abcd", File.ReadAllText(v.On(c, "/f")));
        }
        Assert.True(v.Clean("/f"), "a count was left behind");
        Assert.Equal(1, v.Afr.ReleasedPostOps);
        Assert.Equal(1, v.Afr.DelayedPostOps);
    }

    [Fact]
    public async Task A_file_created_and_closed_without_a_write_ends_clean_and_unlocked()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, Options, locks: true);
        await using (await v.Volume.OpenAsync("/empty", FileMode.CreateNew)) { }
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(0, v.Locks(c).Counts.DomainHeld);
            Assert.True(File.Exists(v.On(c, "/empty")));
        }
        Assert.True(v.Clean("/empty"), "a count was left behind");
    }

    [Fact]
    public async Task A_read_only_create_gets_no_window_with_its_create()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, Options + "; post-op-delay 10s", locks: true);
        await using (await v.Volume.OpenAsync("/ro", OpenFlags.O_RDONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL)) { }
        Assert.Equal(0, v.Afr.LockedCreates);
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(0, v.Locks(c).Counts.DomainLockedCreates);
            Assert.True(File.Exists(v.On(c, "/ro")));
        }
        Assert.True(v.Clean("/ro"), "a count was left behind");
    }

    [Fact]
    public async Task A_create_one_copy_refuses_gives_back_what_the_others_took_and_writes_go_on()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, Options + "; post-op-delay 10s", locks: true);
        // Below b2's features/locks: its create fails, so it takes nothing; b0 and b1 made the file and took its lock.
        await v.FaultAsync(2, "fail create; fail-count 1");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.CreateNew))
        {
            await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
            for (int c = 0; c < 2; c++) Assert.Equal(0, v.Counter(c, "/f", of: c));    // the pre-op was taken off with the lock
            Assert.Equal(1, v.Counter(0, "/", of: 2, kind: Pending.Entry));            // the copy that missed the name is blamed, as before
            Assert.False(File.Exists(v.On(2, "/f")));
            await s.WriteAsync("ok"u8.ToArray());
        }
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal("ok", File.ReadAllText(v.On(c, "/f")));
            Assert.Equal(0, v.Counter(c, "/f", of: c));
            Assert.Equal(0, v.Locks(c).Counts.DomainBadUnlocks);
        }
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
        Assert.Equal(0, v.Afr.LockedCreates);
    }

    [Fact]
    public async Task Without_features_locks_the_create_and_the_release_are_made_as_before()
    {
        // storage/posix answers ENOSYS to both: the create is made alone, and the window (opened by the first write)
        // ends with the separate post-op at the release.
        await using var v = await ReplicatedVolume.CreateAsync(3, "post-op-delay 10s");
        await using (var s = await v.Volume.OpenAsync("/f", FileMode.CreateNew))
            await s.WriteAsync("abc"u8.ToArray());
        for (int c = 0; c < 3; c++) Assert.Equal("abc", File.ReadAllText(v.On(c, "/f")));
        Assert.True(v.Clean("/f"), "a count was left behind");
        Assert.Equal(0, v.Afr.LockedCreates);
        Assert.Equal(0, v.Afr.ReleasedPostOps);
        await using (var s = await v.Volume.OpenAsync("/g", FileMode.CreateNew))
            await s.WriteAsync("d"u8.ToArray());
        Assert.True(v.Clean("/g"), "a count was left behind");
    }
}
