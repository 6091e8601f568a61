using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Client.Tests.Distribute;

/// <summary>
/// xattrop through distribute: a file's counters are added on the subvolume that holds the file
/// (not on the first one, where a fop distribute does not know would go); a directory, which has
/// a copy with counters of its own on every subvolume, is refused with EOPNOTSUPP.
/// </summary>
public class CountersOfAFileLiveOnItsSubvolume
{
    private const string Name = "user.pending";

    private static byte[] Counter(long value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, value);
        return b;
    }

    [Fact]
    public async Task Each_files_counter_is_added_where_the_file_is_and_a_directory_is_refused()
    {
        await using var v = await DistributedVolume.CreateAsync(3);
        var ctx = new FopContext { Graph = v.Volume.Session.ActiveGraph };
        for (int i = 0; i < 12; i++)
        {
            var path = $"/f{i}";
            Gfid gfid;
            await using (var s = await v.Volume.OpenAsync(path, OpenFlags.O_CREAT | OpenFlags.O_RDWR)) gfid = s.Gfid;
            var r = await v.Dht.XattropAsync(ctx, Loc.Nameless(gfid), Name, Counter(i + 1));
            Assert.True(r.Ok, $"{path}: {r.Error}");
            var home = Assert.Single(v.DataBricks(path));
            for (int b = 0; b < 3; b++)
                Assert.Equal(b == home ? Counter(i + 1) : null, Xattr.Get(v.On(b, path), Name));
        }
        await v.Volume.CreateDirectoryAsync("/d");
        await v.Volume.StatAsync("/d");   // the volume's inode of it, as a caller above distribute has
        var dir = v.Volume.Session.ActiveGraph.Inodes.Find(Gfid.FromBytes(Xattr.Get(v.On(0, "/d"), "trusted.graft.gfid")))!;
        Assert.Equal(Errno.EOPNOTSUPP, (await v.Dht.XattropAsync(ctx, Loc.Of(dir), Name, Counter(1))).Error);
        Assert.All(Enumerable.Range(0, 3), b => Assert.Null(Xattr.Get(v.On(b, "/d"), Name)));
    }
}
