using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// inodelk and entrylk sent from above replicate (distribute's layout lock, a rebalance's file lock) are held on
/// every copy that is up and granted only with a quorum of them: they keep excluding each other while a copy is
/// down, and none is held where it could not be granted. (They used to go to the first copy alone, so a distributed
/// replicated volume could not take a layout lock while its first brick was down.)
/// </summary>
public class DomainLocksFromAboveHoldOnEveryCopy
{
    private static FopContext Owner(ReplicatedVolume v, ulong owner) =>
        new() { Graph = v.Volume.Session.ActiveGraph, MountId = Guid.NewGuid(), LockOwner = owner };

    private static int[] Held(ReplicatedVolume v) => [.. Enumerable.Range(0, v.Bricks.Count).Select(i => v.Locks(i).Counts.DomainHeld)];

    /// <summary>Replicate's own locks off the path (no write window, no entry lease), so the counts are the test's locks alone.</summary>
    private const string NoWindows = "post-op-delay 0; entry-lock-delay 0";

    /// <summary>Creates <paramref name="path"/> and waits until the create's own transaction locks are given back.</summary>
    private static async Task<Gfid> FileAsync(ReplicatedVolume v, string path)
    {
        Gfid gfid;
        await using (var s = await v.Volume.OpenAsync(path, OpenFlags.O_CREAT | OpenFlags.O_RDWR)) gfid = s.Gfid;
        await Wait.Until(() => Held(v).All(n => n == 0), "the create's transaction locks to be given back");
        return gfid;
    }

    [Fact]
    public async Task A_lock_is_held_on_every_copy_and_refuses_another_owner_until_it_is_given_back()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, NoWindows, locks: true);
        var f = Loc.Nameless(await FileAsync(v, "/f"));
        var root = Loc.Nameless(Gfid.Root);
        var (a, b) = (Owner(v, 1), Owner(v, 2));

        Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", Cmd.Lock, LockType.Write, 0, 0));
        Assert.Equal([1, 1, 1], Held(v));
        Assert.Equal(Errno.EAGAIN, await v.Afr.InodeLkAsync(b, f, "d", Cmd.Lock, LockType.Read, 0, 0));
        Assert.Equal([1, 1, 1], Held(v)); // the refused one kept nothing
        Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", Cmd.Unlock, LockType.Write, 0, 0));
        Assert.Equal([0, 0, 0], Held(v));

        Assert.Equal(Errno.OK, await v.Afr.EntryLkAsync(a, root, "d", "name", Cmd.Lock, LockType.Write));
        Assert.Equal([1, 1, 1], Held(v));
        Assert.Equal(Errno.EAGAIN, await v.Afr.EntryLkAsync(b, root, "d", "name", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.OK, await v.Afr.EntryLkAsync(a, root, "d", "name", Cmd.Unlock, LockType.Write));
        Assert.Equal([0, 0, 0], Held(v));
    }

    [Fact]
    public async Task A_blocking_lock_waits_for_the_holder_then_holds_every_copy()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, NoWindows, locks: true);
        var f = Loc.Nameless(await FileAsync(v, "/f"));
        var (a, b) = (Owner(v, 1), Owner(v, 2));
        Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", Cmd.Lock, LockType.Write, 0, 0));
        var waiting = v.Afr.InodeLkAsync(b, f, "d", Cmd.LockBlocking, LockType.Write, 0, 0).AsTask();
        // It waits on the first copy (child order), holding nothing anywhere else meanwhile.
        await Wait.Until(() => v.Locks(0).Counts.DomainWaiting == 1, "the blocking lock to wait on the first copy");
        Assert.False(waiting.IsCompleted);
        Assert.Equal([1, 1, 1], Held(v));
        Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", Cmd.Unlock, LockType.Write, 0, 0));
        Assert.Equal(Errno.OK, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal([1, 1, 1], Held(v));
        Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(b, f, "d", Cmd.Unlock, LockType.Write, 0, 0));
        Assert.Equal([0, 0, 0], Held(v));
    }

    [Fact]
    public async Task With_the_first_copy_down_locks_still_exclude_and_without_quorum_none_is_held()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3, NoWindows, faultsAboveLocks: true);
        var f = Loc.Nameless(await FileAsync(v, "/f"));
        var (a, b) = (Owner(v, 1), Owner(v, 2));
        await v.TakeDownAsync(0);

        foreach (var cmd in new[] { Cmd.Lock, Cmd.LockBlocking })
        {
            Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", cmd, LockType.Write, 0, 0));
            Assert.Equal([0, 1, 1], Held(v));
            Assert.Equal(Errno.EAGAIN, await v.Afr.InodeLkAsync(b, f, "d", Cmd.Lock, LockType.Write, 0, 0));
            Assert.Equal(Errno.OK, await v.Afr.InodeLkAsync(a, f, "d", Cmd.Unlock, LockType.Write, 0, 0));
            Assert.Equal([0, 0, 0], Held(v));
        }

        // Two of three down: one copy would grant it, but one copy is no quorum, so nothing is kept there.
        await v.TakeDownAsync(1);
        foreach (var cmd in new[] { Cmd.Lock, Cmd.LockBlocking })
        {
            Assert.Equal(Errno.ENOTCONN, await v.Afr.InodeLkAsync(a, f, "d", cmd, LockType.Write, 0, 0));
            Assert.Equal([0, 0, 0], Held(v));
        }
    }
}
