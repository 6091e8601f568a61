using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>entrylk: a name's lock conflicts with the same name's and with the whole directory's, not with other names'.</summary>
public class EntrylkLocksANameOrTheWholeDirectory
{
    private static readonly Proc A = new(LocksHarness.MountA, 1, 100), B = new(LocksHarness.MountB, 1, 200);

    [Fact]
    public async Task Different_names_do_not_conflict_and_the_same_name_does()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.OK, await h.Entrylk(B, "d", "y", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.EAGAIN, await h.Entrylk(B, "d", "x", Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.OK, await h.Entrylk(B, "other", "x", Cmd.Lock, LockType.Write));
    }

    [Fact]
    public async Task The_whole_directory_conflicts_with_every_name()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.EAGAIN, await h.Entrylk(B, "d", null, Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await h.Entrylk(B, "d", null, Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.EAGAIN, await h.Entrylk(A, "d", "anything", Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.EINVAL, await h.Entrylk(B, "d", "anything", Cmd.Unlock, LockType.Write));   // B holds the directory, not the name
        Assert.Equal(Errno.OK, await h.Entrylk(B, "d", null, Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "anything", Cmd.Lock, LockType.Read));
    }

    [Fact]
    public async Task Read_locks_on_a_name_and_on_the_directory_share()
    {
        var h = await LocksHarness.CreateAsync();
        Assert.Equal(Errno.OK, await h.Entrylk(A, "d", "x", Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.OK, await h.Entrylk(B, "d", null, Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.EAGAIN, await h.Entrylk(B, "d", "x", Cmd.Lock, LockType.Write));
    }
}
