using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Tests.Posix;
using Graft.Xlators.Tests.Protocol;

namespace Graft.Xlators.Tests.Features.Index;

/// <summary>
/// fxattrop, the xattrop through an open fd that features/locks makes a created file's pre-op and a released
/// fd's post-op with: on storage/posix it adds to the same counters as xattrop by loc (the two never lose one
/// another's adds), and features/index records and forgets the object as for xattrop, looking at its other
/// counters through the fd.
/// </summary>
public class CountersAddThroughAnOpenFd
{
    private static async Task<Fd> CreateOpenAsync(IndexBrick b, string name)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(b.Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        var r = await b.Index.CreateAsync(IndexBrick.Root, Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0x1A4, 0, gfid, fd);
        Assert.True(r.Ok, $"create {name}: {r.Error}");
        return fd;
    }

    private static async Task<long[]> FxattropOk(IndexBrick b, Fd fd, string name, params long[] deltas)
    {
        var r = await b.Index.FxattropAsync(IndexBrick.Root, fd, name, IndexBrick.Counters(deltas));
        Assert.True(r.Ok, $"fxattrop {name}: {r.Error}");
        return Enumerable.Range(0, r.Value.Length / 8).Select(i => BinaryPrimitives.ReadInt64BigEndian(r.Value.AsSpan(i * 8))).ToArray();
    }

    [PosixFact]
    public async Task An_add_through_the_fd_records_the_object_and_zero_forgets_it()
    {
        await using var b = await IndexBrick.StartAsync();
        var fd = await CreateOpenAsync(b, "f");
        var f = fd.Inode.Gfid;
        Assert.Equal(new long[] { 1L, 0L }, await FxattropOk(b, fd, IndexBrick.PendingA, 1, 0));
        Assert.Equal([f], await b.PageAsync());
        Assert.Equal(new long[] { 0L, 0L }, await FxattropOk(b, fd, IndexBrick.PendingA, -1, 0));
        Assert.Empty(await b.PageAsync());
        Assert.False(File.Exists(Path.Combine(b.PendingDir, f.ToString())));
        await FopScenario.Release(b.Index, fd);
    }

    [PosixFact]
    public async Task Adds_by_fd_and_by_loc_meet_in_the_same_counters()
    {
        await using var b = await IndexBrick.StartAsync();
        var fd = await CreateOpenAsync(b, "f");
        var f = fd.Inode.Gfid;
        await FxattropOk(b, fd, IndexBrick.PendingA, 2, 1);
        await b.XattropOk(f, IndexBrick.PendingA, 3, 0);
        Assert.Equal(new long[] { 5L, 1L }, await FxattropOk(b, fd, IndexBrick.PendingA, 0, 0));
        // Side by side, from both sides: no add is lost (the same xattr lock by device and inode).
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => i % 2 == 0
            ? FxattropOk(b, fd, IndexBrick.PendingA, 1, 0)
            : b.XattropOk(f, IndexBrick.PendingA, 1, 0)));
        Assert.Equal(new long[] { 45L, 1L }, await FxattropOk(b, fd, IndexBrick.PendingA, 0, 0));
        await FopScenario.Release(b.Index, fd);
    }

    [PosixFact]
    public async Task A_zero_through_the_fd_keeps_the_object_while_another_counter_is_non_zero()
    {
        await using var b = await IndexBrick.StartAsync();
        var fd = await CreateOpenAsync(b, "f");
        var f = fd.Inode.Gfid;
        await b.XattropOk(f, IndexBrick.PendingB, 0, 1);          // another copy blamed, by loc
        await FxattropOk(b, fd, IndexBrick.PendingA, 1, 0);
        await FxattropOk(b, fd, IndexBrick.PendingA, -1, 0);
        Assert.Equal([f], await b.PageAsync());                    // B's blame still counts
        await b.XattropOk(f, IndexBrick.PendingB, 0, -1);
        Assert.Empty(await b.PageAsync());
        await FopScenario.Release(b.Index, fd);
    }

    [PosixFact]
    public async Task A_released_or_foreign_fd_is_refused()
    {
        await using var b = await IndexBrick.StartAsync();
        var fd = await CreateOpenAsync(b, "f");
        var stranger = FopScenario.NewFd(b.Graph.Inodes, new Iatt { Gfid = Gfid.NewGfid(), Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EBADF, (await b.Index.FxattropAsync(IndexBrick.Root, stranger, IndexBrick.PendingA, IndexBrick.Counters(1))).Error);
        Assert.Equal(Errno.EINVAL, (await b.Index.FxattropAsync(IndexBrick.Root, fd, IndexBrick.PendingA, new byte[5])).Error);
        Assert.Empty(await b.PageAsync());
        await FopScenario.Release(b.Index, fd);
    }
}
