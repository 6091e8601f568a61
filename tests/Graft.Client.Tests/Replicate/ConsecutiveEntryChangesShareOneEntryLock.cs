using Graft.Core;
using Graft.Tests.Replicate;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// Eager entry lock: one client's consecutive namespace changes in one directory share one entrylk on
/// the whole directory, taken once on every copy and given back entry-lock-delay later, or at once
/// when this client changes the directory itself, or when a copy stops answering — after which the
/// next change locks and counts as before.
/// </summary>
public class ConsecutiveEntryChangesShareOneEntryLock
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Creates_a_rename_and_an_unlink_take_the_directorys_lock_once_on_each_copy()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 60s", locks: true);
        await v.Volume.CreateDirectoryAsync("/d");
        long leases = v.Afr.EntryLeases, changes = v.Afr.LeasedEntryChanges, preOps = v.Afr.PreOps;
        var granted = Enumerable.Range(0, 3).Select(i => v.Locks(i).Counts.DomainGranted).ToArray();
        for (int k = 0; k < 10; k++) await v.Volume.WriteAllBytesAsync($"/d/f{k}", "x"u8.ToArray());
        await v.Volume.RenameAsync("/d/f0", "/d/g");
        await v.Volume.DeleteFileAsync("/d/f1");

        Assert.Equal(leases + 1, v.Afr.EntryLeases);
        Assert.Equal(changes + 12, v.Afr.LeasedEntryChanges);
        for (int c = 0; c < 3; c++)
        {
            // One entry lock for the twelve changes; each file's data window took (and gave back) its own lock.
            Assert.Equal(granted[c] + 1 + 10, v.Locks(c).Counts.DomainGranted);
            Assert.Equal(2, v.Locks(c).Counts.DomainHeld); // the leases on / (from the mkdir) and on /d, held on
        }
        Assert.Equal(preOps + 10, v.Afr.PreOps); // the data windows' only: the entry changes counted nothing
        Assert.True(v.Clean("/d"), "an entry change under the lease left a counter");
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[1]));
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[2]));
    }

    [Fact]
    public async Task The_lock_is_given_back_after_the_delay()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 200ms", locks: true);
        await v.Volume.WriteAllBytesAsync("/f", "x"u8.ToArray());
        Assert.Equal(1, v.Afr.EntryLeases);
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
        await v.Volume.WriteAllBytesAsync("/g", "x"u8.ToArray());
        Assert.Equal(2, v.Afr.EntryLeases); // the next change takes a new one
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
    }

    [Fact]
    public async Task A_change_of_the_directory_itself_gives_it_back_at_once()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 60s", locks: true);
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.WriteAllBytesAsync("/d/f", "x"u8.ToArray());
        Assert.Equal(2, v.Locks(0).Counts.DomainHeld);
        await v.Volume.ChmodAsync("/d", 0x1C0); // a metadata transaction of this client on /d: its lease first goes
        var until = DateTime.UtcNow + Bound; // the chmod's own unlock follows its answer
        while (Enumerable.Range(0, 3).Any(c => v.Locks(c).Counts.DomainHeld != 1))
        {
            Assert.True(DateTime.UtcNow < until, "the lease on /d was not given back");
            await Task.Delay(10);
        }
        Assert.Equal(0x1C0u, (uint)File.GetUnixFileMode(v.On(1, "/d")) & 0x1FF);
    }

    [Fact]
    public async Task A_copy_that_answers_ENOTCONN_ends_it_and_is_blamed_for_the_change_it_missed()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 60s", locks: true);
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.WriteAllBytesAsync("/d/a", "a"u8.ToArray());
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.HeldAsync(v, 2); // the leases on / and /d
        // b2's storage cut off (below its features/locks), and the graph not told: the lease's next change finds it.
        await v.FaultAsync(2, "fail *; fail-errno ENOTCONN");
        await v.Volume.CreateDirectoryAsync("/d/b");
        for (int c = 0; c < 2; c++) Assert.Equal(1, v.Counter(c, "/d", of: 2, kind: Pending.Entry));
        Assert.False(Directory.Exists(v.On(2, "/d/b")));
        // Every lease was given back at once (the delay is 60 s): the next change locks every copy again.
        await ALockCarriesItsPreOpAndAnUnlockItsPostOp.NothingHeldAsync(v);
        await v.BringBackAsync(2);
    }

    [Fact]
    public async Task Two_creates_of_one_name_at_once_leave_one_file_and_no_GFID_mismatch()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 60s", locks: true);
        await v.Volume.CreateDirectoryAsync("/d");
        for (int k = 0; k < 20; k++)
        {
            var path = $"/d/x{k}";
            var two = new[] { Create(v, path), Create(v, path) };
            var outcomes = await Task.WhenAll(two);
            Assert.Equal(1, outcomes.Count(o => o == Errno.OK));
            Assert.Equal(1, outcomes.Count(o => o == Errno.EEXIST));
        }
        Assert.Equal(0, v.Afr.Counters!["gfidMismatches"]);
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[1]));
        Assert.Equal(Bricks.Describe(v.Bricks[0]), Bricks.Describe(v.Bricks[2]));
    }

    [Fact]
    public async Task Changes_that_arrive_while_the_lock_is_being_taken_join_it_instead_of_waiting_out_its_delay()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, "entry-lock-delay 60s", locks: true);
        await v.Volume.CreateDirectoryAsync("/d");
        long leases = v.Afr.EntryLeases;
        // They start together: all but the first find the directory's lock being taken (before session 10 they waited
        // for the mutex, which the lock then held for its whole 60 s).
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Create(v, $"/d/y{i}"))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(outcomes, e => Assert.Equal(Errno.OK, e));
        Assert.Equal(leases + 1, v.Afr.EntryLeases);
    }

    private static async Task<Errno> Create(ReplicatedVolume v, string path)
    {
        await Task.Yield();
        try
        {
            await using var s = await v.Volume.OpenAsync(path, FileMode.CreateNew);
            return Errno.OK;
        }
        catch (GraftIOException e) { return e.Errno; }
    }
}
