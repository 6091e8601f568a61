using Graft.Core;
using Graft.Xlators.Features.Locks;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// inodelk and entrylk through distribute land on one brick that every client picks alike: a
/// file's on the subvolume that holds it, a name's on the subvolume the name hashes to, a whole
/// directory's on every subvolume (so it meets every name's), a directory's inodelk on the first.
/// </summary>
public class DomainLocksGoWhereEveryClientSendsThem
{
    private static FopContext Ctx(DistributedVolume v, ulong owner) =>
        new() { Graph = v.Volume.Session.ActiveGraph, MountId = Guid.NewGuid(), LockOwner = owner };

    private static int[] HeldPerBrick(DistributedVolume v) =>
        [.. Enumerable.Range(0, v.Bricks.Count).Select(i =>
            v.Volume.Session.ActiveGraph.Translators.OfType<LocksTranslator>().Single(l => l.Name == "b" + i).Counts.DomainHeld)];

    [Fact]
    public async Task Each_lock_is_held_on_the_brick_its_object_or_name_belongs_to()
    {
        await using var v = await DistributedVolume.CreateAsync(3, withLocks: true);
        var a = Ctx(v, 1);
        var b = new FopContext { Graph = a.Graph, MountId = Guid.NewGuid(), LockOwner = 2 };
        for (int i = 0; i < 6; i++)
        {
            var path = $"/f{i}";
            Gfid gfid;
            await using (var s = await v.Volume.OpenAsync(path, OpenFlags.O_CREAT | OpenFlags.O_RDWR)) gfid = s.Gfid;
            int home = Assert.Single(v.DataBricks(path));
            Assert.Equal(Errno.OK, await v.Dht.InodeLkAsync(a, Loc.Nameless(gfid), "d", Cmd.Lock, LockType.Write, 0, 0));
            Assert.Equal(Enumerable.Range(0, 3).Select(i => i == home ? 1 : 0), HeldPerBrick(v));
            Assert.Equal(Errno.EAGAIN, await v.Dht.InodeLkAsync(b, Loc.Nameless(gfid), "d", Cmd.Lock, LockType.Read, 0, 0));
            Assert.Equal(Errno.OK, await v.Dht.InodeLkAsync(a, Loc.Nameless(gfid), "d", Cmd.Unlock, LockType.Write, 0, 0));

            Assert.Equal(Errno.OK, await v.Dht.EntryLkAsync(a, Loc.Nameless(Gfid.Root), "d", $"f{i}", Cmd.Lock, LockType.Write));
            Assert.Equal(Enumerable.Range(0, 3).Select(i => i == home ? 1 : 0), HeldPerBrick(v));
            Assert.Equal(Errno.OK, await v.Dht.EntryLkAsync(a, Loc.Nameless(Gfid.Root), "d", $"f{i}", Cmd.Unlock, LockType.Write));
        }
    }

    [Fact]
    public async Task A_whole_directory_lock_is_taken_everywhere_and_meets_every_names()
    {
        await using var v = await DistributedVolume.CreateAsync(3, withLocks: true);
        var a = Ctx(v, 1);
        var b = new FopContext { Graph = a.Graph, MountId = Guid.NewGuid(), LockOwner = 2 };
        var root = Loc.Nameless(Gfid.Root);
        Assert.Equal(Errno.OK, await v.Dht.EntryLkAsync(a, root, "d", null, Cmd.Lock, LockType.Write));
        Assert.Equal([1, 1, 1], HeldPerBrick(v));
        for (int i = 0; i < 6; i++)
            Assert.Equal(Errno.EAGAIN, await v.Dht.EntryLkAsync(b, root, "d", "name" + i, Cmd.Lock, LockType.Read));
        Assert.Equal(Errno.OK, await v.Dht.EntryLkAsync(a, root, "d", null, Cmd.Unlock, LockType.Write));
        Assert.Equal([0, 0, 0], HeldPerBrick(v));

        // One name held: a whole-directory lock that is refused somewhere keeps nothing anywhere.
        Assert.Equal(Errno.OK, await v.Dht.EntryLkAsync(b, root, "d", "x", Cmd.Lock, LockType.Write));
        Assert.Equal(Errno.EAGAIN, await v.Dht.EntryLkAsync(a, root, "d", null, Cmd.Lock, LockType.Write));
        Assert.Equal(1, HeldPerBrick(v).Sum());
    }
}
