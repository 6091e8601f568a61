using Graft.Core;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// The cluster translators' xattrs (trusted.graft.dht.*) are the one part of the brick's internal
/// namespace a root caller — a mount's trusted identity — may use; other callers see nothing, and
/// the brick's own GFID xattr stays untouchable for everyone.
/// </summary>
public class ClusterXattrsAreForTheMountOnly
{
    private static FopContext Root => PosixBrick.Root;
    private static FopContext User => PosixBrick.User;
    private const string Name = PosixTranslator.ClusterXattrPrefix + "layout";

    [PosixFact]
    public async Task Root_sets_reads_lists_and_removes_them_and_a_user_cannot()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var loc = Loc.Nameless(f.Gfid);
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, loc, Name, new byte[] { 1, 2 }, 0));
        Assert.Equal(new byte[] { 1, 2 }, (await b.Xl.GetxattrAsync(Root, loc, Name)).Value);
        Assert.Contains(Name, (await b.Xl.ListxattrAsync(Root, loc)).Value);
        Assert.DoesNotContain((await b.Xl.ListxattrAsync(Root, loc)).Value, n => n == "trusted.graft.gfid");
        Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(User, loc, Name)).Error);
        Assert.DoesNotContain(Name, (await b.Xl.ListxattrAsync(User, loc)).Value);
        Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(User, loc, Name, new byte[] { 3 }, 0));
        Assert.Equal(Errno.EPERM, await b.Xl.RemovexattrAsync(User, loc, Name));
        Assert.Equal(Errno.OK, await b.Xl.RemovexattrAsync(Root, loc, Name));
        Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(Root, loc, "trusted.graft.gfid", new byte[16], 0));
        await b.Release(fd);
    }
}
