using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// create-inodelk-xattrop (op 45) and release-inodelk-xattrop (op 46) through protocol/client → protocol/server →
/// features/locks → features/index → storage/posix: the create leaves the file locked, counted and indexed, the
/// release takes the count off, gives the lock back and closes the fd. A client with <c>lock-create-release off</c>
/// (a brick that did not grant feature bit 2) answers both ENOSYS itself and nothing happens; a brick with no
/// features/locks answers ENOSYS and nothing happens there either.
/// </summary>
public class CreateAndReleaseCarryTheirLockOverTheWire
{
    private const string Domain = "graft.replicate", Counter = "trusted.graft.pending.b0";
    private const ulong Owner = 0x6166720000000042;

    private static byte[] Delta(long d)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, d);
        return b;
    }

    /// <summary>The brick's counter on <paramref name="gfid"/>, read over the wire (the test session is trusted).</summary>
    private static async Task<long> CounterOn(WireMount m, Gfid gfid)
    {
        var r = await m.Graph.Top.GetxattrAsync(m.Ctx(), Loc.Nameless(gfid), Counter);
        return r.Ok ? BinaryPrimitives.ReadInt64BigEndian(r.Value) : 0;
    }

    /// <summary>Whether the brick's heal index lists <paramref name="gfid"/>.</summary>
    private static async Task<bool> Indexed(WireMount m, Gfid gfid)
    {
        var r = await m.Graph.Top.GetxattrAsync(m.Ctx(), Loc.Nameless(Gfid.Root), Graft.Xlators.Features.Index.IndexTranslator.ListKey);
        Assert.True(r.Ok, r.Error.Name());
        for (int i = 0; i < r.Value.Length; i += 16) if (Gfid.FromBytes(r.Value.AsSpan(i, 16)) == gfid) return true;
        return false;
    }

    private static Task<Result<LockedCreate>> CreateLocked(WireMount m, string name, Fd fd) =>
        m.Graph.Top.CreateInodeLkXattropAsync(m.Ctx(), Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, fd.Inode.Gfid, fd,
                                              Domain, new FileLock { Type = LockType.Write, Owner = Owner }, Counter, Delta(1)).AsTask();

    private static Task<Result<byte[]>> ReleaseLocked(WireMount m, Fd fd) =>
        m.Graph.Top.ReleaseInodeLkXattropAsync(m.Ctx(owner: Owner), fd, Domain, LockType.Write, 0, 0, Counter, Delta(-1)).AsTask();

    private static Fd NewFd(WireMount m) => FopScenario.NewFd(m.Graph.Inodes, new Iatt { Gfid = Gfid.NewGfid(), Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);

    [Fact]
    public async Task The_create_leaves_the_file_locked_counted_and_indexed_and_the_release_undoes_all_three()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: [], healIndex: true);
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var other = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var fd = NewFd(m);
        var r = await CreateLocked(m, "f", fd);
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(Errno.OK, r.Value.Lock);
        Assert.Equal(fd.Inode.Gfid, r.Value.Iatt.Gfid);
        Assert.Equal(1, await CounterOn(m, fd.Inode.Gfid));
        Assert.True(await Indexed(m, fd.Inode.Gfid), "the pre-op was not indexed");
        Assert.Equal(Errno.EAGAIN, await other.Graph.Top.InodeLkAsync(other.Ctx(owner: 9), Loc.Nameless(fd.Inode.Gfid), Domain, DomainLockCmd.Lock, LockType.Write, 0, 0));
        Assert.Equal(5, (await m.Graph.Top.WritevAsync(m.Ctx(), fd, "hello"u8.ToArray(), 0)).Value);
        Assert.Equal(1, brick.Server.TotalFds);

        var post = await ReleaseLocked(m, fd);
        Assert.True(post.Ok, post.Error.Name());
        Assert.Equal(0, BinaryPrimitives.ReadInt64BigEndian(post.Value));
        Assert.Equal(0, await CounterOn(m, fd.Inode.Gfid));
        Assert.False(await Indexed(m, fd.Inode.Gfid), "the post-op left the index entry");
        await ClientGraphs.Until(() => brick.Server.TotalFds == 0, "the fd released on the brick");
        Assert.Equal(Errno.OK, await other.Graph.Top.InodeLkAsync(other.Ctx(owner: 9), Loc.Nameless(fd.Inode.Gfid), Domain, DomainLockCmd.Lock, LockType.Write, 0, 0));
        Assert.Equal("hello", await File.ReadAllTextAsync(Path.Combine(brick.Dir, "f")));
        Assert.Equal(0, brick.Locks!.Counts.DomainBadUnlocks);
        await m.StopAsync();
        await other.StopAsync();
    }

    [Fact]
    public async Task A_client_whose_brick_did_not_grant_them_answers_ENOSYS_and_sends_nothing()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: []);
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid(), options: new() { ["lock-create-release"] = "off" });
        long received = brick.Server.BytesReceived;
        var fd = NewFd(m);
        Assert.Equal(Errno.ENOSYS, (await CreateLocked(m, "f", fd)).Error);
        Assert.Equal(received, brick.Server.BytesReceived);
        Assert.False(File.Exists(Path.Combine(brick.Dir, "f")));

        var (open, _) = await m.CreateAsync("g");
        received = brick.Server.BytesReceived;
        Assert.Equal(Errno.ENOSYS, (await ReleaseLocked(m, open)).Error);
        Assert.Equal(received, brick.Server.BytesReceived);
        // The fd is still this client's: it writes, and a plain release closes it.
        Assert.Equal(2, (await m.Graph.Top.WritevAsync(m.Ctx(), open, "ok"u8.ToArray(), 0)).Value);
        await m.ReleaseAsync(open);
        await ClientGraphs.Until(() => brick.Server.TotalFds == 0, "the fd released on the brick");
        Assert.Equal(0, brick.Locks!.Counts.DomainLockedCreates);
        await m.StopAsync();
    }

    [Fact]
    public async Task A_brick_without_features_locks_answers_ENOSYS_and_makes_nothing()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var m = await WireMount.ConnectAsync(brick.Port, "brick", Guid.NewGuid());
        var fd = NewFd(m);
        Assert.Equal(Errno.ENOSYS, (await CreateLocked(m, "f", fd)).Error);
        Assert.False(File.Exists(Path.Combine(brick.Dir, "f")));
        Assert.Equal(0, brick.Server.TotalFds);

        var (open, _) = await m.CreateAsync("g");
        Assert.Equal(Errno.ENOSYS, (await ReleaseLocked(m, open)).Error);
        Assert.Equal(1, brick.Server.TotalFds);                    // nothing was done, the fd included
        Assert.Equal(2, (await m.Graph.Top.WritevAsync(m.Ctx(), open, "ok"u8.ToArray(), 0)).Value);
        await m.ReleaseAsync(open);
        await ClientGraphs.Until(() => brick.Server.TotalFds == 0, "the fd released on the brick");
        await m.StopAsync();
    }
}
