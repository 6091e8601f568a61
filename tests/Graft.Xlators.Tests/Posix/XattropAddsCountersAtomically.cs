using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// xattrop on storage/posix: the deltas (big-endian i64s) are added to the counters in the xattr,
/// an absent xattr counting as zeros, and concurrent adds to one file never lose one.
/// </summary>
public class XattropAddsCountersAtomically
{
    private static FopContext Root => PosixBrick.Root;
    private const string Name = "user.pending";

    private static byte[] Counters(params long[] values)
    {
        var b = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(i * 8), values[i]);
        return b;
    }

    [PosixFact]
    public async Task Adds_to_zeros_then_to_what_is_there_and_the_xattr_holds_the_sum()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        Assert.Equal(Counters(1, 0, -1), (await b.Xl.XattropAsync(Root, loc, Name, Counters(1, 0, -1))).Value);
        Assert.Equal(Counters(3, 5, -2), (await b.Xl.XattropAsync(Root, loc, Name, Counters(2, 5, -1))).Value);
        Assert.Equal(Counters(3, 5, -2), (await b.Xl.GetxattrAsync(Root, loc, Name)).Value);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Deltas_that_are_not_whole_counters_or_do_not_match_the_value_are_EINVAL_and_change_nothing()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        Assert.Equal(Errno.EINVAL, (await b.Xl.XattropAsync(Root, loc, Name, new byte[7])).Error);
        Assert.Equal(Errno.EINVAL, (await b.Xl.XattropAsync(Root, loc, Name, Array.Empty<byte>())).Error);
        Assert.True((await b.Xl.XattropAsync(Root, loc, Name, Counters(4, 4))).Ok);
        Assert.Equal(Errno.EINVAL, (await b.Xl.XattropAsync(Root, loc, Name, Counters(1))).Error);
        Assert.Equal(Counters(4, 4), (await b.Xl.GetxattrAsync(Root, loc, Name)).Value);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task Concurrent_adds_from_many_threads_all_count()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        const int threads = 8, adds = 200;
        await Task.WhenAll(Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < adds; i++) Assert.True((await b.Xl.XattropAsync(Root, loc, Name, Counters(1, -2))).Ok);
        })));
        Assert.Equal(Counters(threads * adds, -2 * threads * adds), (await b.Xl.GetxattrAsync(Root, loc, Name)).Value);
        await b.Release(fd);
    }

    [PosixFact]
    public async Task A_caller_without_write_access_to_the_xattr_changes_nothing()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        Assert.Equal(Errno.EPERM, (await b.Xl.XattropAsync(PosixBrick.User, loc, "trusted.pending", Counters(1))).Error);
        Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(Root, loc, "trusted.pending")).Error);
        await b.Release(fd);
    }
}
