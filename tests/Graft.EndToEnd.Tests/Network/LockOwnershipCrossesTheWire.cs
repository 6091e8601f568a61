using Graft.Core;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A POSIX lock on the brick is owned by (mount id, lock owner), the mount being the one each
/// connection's handshake presented, not the connection: two mounts conflict even with the same
/// lock-owner number, while the same mount on a second connection (a newer graph) is the same owner
/// (DESIGN invariant 9). A call naming another mount in its caller field does not become that mount.
/// </summary>
public class LockOwnershipCrossesTheWire
{
    [Fact]
    public async Task Locks_conflict_between_mounts_not_between_graphs_of_one_mount()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b");
        Guid mountA = Guid.NewGuid(), mountB = Guid.NewGuid();
        Dictionary<string, string> As(Guid mount) => new() { ["mount-identity"] = mount.ToString() };
        var a1 = await NetClient.ConnectAsync(brick.Port, "b", As(mountA));
        var a2 = await NetClient.ConnectAsync(brick.Port, "b", As(mountA));   // mount A's next graph: its own connection
        var b = await NetClient.ConnectAsync(brick.Port, "b", As(mountB));
        FopContext Ctx(Guid mount) { var c = FopContext.Root(); c.MountId = mount; c.LockOwner = 7; return c; }

        var gfid = Gfid.NewGfid();
        var fa1 = FopScenario.NewFd(a1.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await a1.Top.CreateAsync(Ctx(mountA), Loc.Child(Gfid.Root, "locked"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fa1)).Ok);
        async Task<Fd> Open(Graph g, Guid mount)
        {
            var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
            Assert.Equal(Errno.OK, await g.Top.OpenAsync(Ctx(mount), Loc.Nameless(gfid), OpenFlags.O_RDWR, fd));
            return fd;
        }
        var fa2 = await Open(a2, mountA);
        var fb = await Open(b, mountB);

        var range = new FileLock { Type = LockType.Write, Start = 0, Length = 100, Pid = 1, Owner = 7 };
        Assert.True((await a1.Top.LkAsync(Ctx(mountA), fa1, LockCmd.SetLk, range)).Ok);
        Assert.Equal(Errno.EAGAIN, (await b.Top.LkAsync(Ctx(mountB), fb, LockCmd.SetLk, range)).Error);
        Assert.True((await a2.Top.LkAsync(Ctx(mountA), fa2, LockCmd.SetLk, range)).Ok, "the same mount's lock through another graph");
        // Mount B naming mount A in its calls is still mount B.
        Assert.Equal(Errno.EAGAIN, (await b.Top.LkAsync(Ctx(mountA), fb, LockCmd.SetLk, range)).Error);

        foreach (var (g, fd) in new[] { (a1, fa1), (a2, fa2), (b, fb) }) await FopScenario.Release(g.Top, fd);
        foreach (var g in new[] { a1, a2, b }) await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
