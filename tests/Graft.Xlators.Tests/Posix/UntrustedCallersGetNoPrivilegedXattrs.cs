using Graft.Core;
using static Graft.Xlators.Tests.Posix.PosixBrick;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A caller whose identity was not authenticated (<see cref="FopContext.Untrusted"/>: an
/// unauthenticated brick session) can neither read, write, list nor remove trusted.* and security.*
/// xattrs, by path or by fd, whatever uid it names; user.* xattrs work as for anyone. The same calls
/// from a trusted root caller reach the filesystem.
/// </summary>
public class UntrustedCallersGetNoPrivilegedXattrs
{
    private static FopContext Untrusted(uint uid) => new() { Uid = uid, Gid = uid, Untrusted = true };

    [PosixTheory]
    [InlineData(0u)]
    [InlineData(UserId)]
    public async Task Trusted_and_security_xattrs_are_out_of_reach(uint uid)
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f", mode: 0x1B6 /* 0666 */);
        var loc = Loc.Nameless(f.Gfid);
        // Put there by the brick's owner (a trusted caller), so there is something to hide.
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, loc, "trusted.t", "1"u8.ToArray(), 0));
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, loc, "security.s", "2"u8.ToArray(), 0));
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(Root, loc, "user.u", "3"u8.ToArray(), 0));
        Assert.Equal(["security.s", "trusted.t", "user.u"], (await b.Xl.ListxattrAsync(Root, loc)).Value.Order(StringComparer.Ordinal));

        var who = Untrusted(uid);
        foreach (var name in new[] { "trusted.t", "security.s" })
        {
            Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(who, loc, name)).Error);
            Assert.Equal(Errno.ENODATA, (await b.Xl.FgetxattrAsync(who, fd, name)).Error);
            Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(who, loc, name, "x"u8.ToArray(), 0));
            Assert.Equal(Errno.EPERM, await b.Xl.FsetxattrAsync(who, fd, name, "x"u8.ToArray(), 0));
            Assert.Equal(Errno.EPERM, await b.Xl.RemovexattrAsync(who, loc, name));
            Assert.Equal(Errno.EPERM, await b.Xl.FremovexattrAsync(who, fd, name));
        }
        Assert.Equal(["user.u"], (await b.Xl.ListxattrAsync(who, loc)).Value);
        Assert.Equal(["user.u"], (await b.Xl.FlistxattrAsync(who, fd)).Value);
        Assert.Equal(Errno.OK, await b.Xl.SetxattrAsync(who, loc, "user.mine", "4"u8.ToArray(), 0));

        // Nothing was changed behind the refusals.
        Assert.Equal("1"u8.ToArray(), (await b.Xl.GetxattrAsync(Root, loc, "trusted.t")).Value);
        Assert.Equal("2"u8.ToArray(), (await b.Xl.GetxattrAsync(Root, loc, "security.s")).Value);
        await b.Release(fd);
    }
}
