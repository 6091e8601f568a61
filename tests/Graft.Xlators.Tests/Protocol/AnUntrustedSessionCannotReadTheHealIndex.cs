using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Features.Index;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Through protocol/server, a session that proved nothing (root-squashed) gets no index listing and
/// cannot change pending counters, though the brick's index holds an entry; the brick's own trusted
/// caller lists it.
/// </summary>
public class AnUntrustedSessionCannotReadTheHealIndex
{
    [Fact]
    public async Task The_listing_is_ENODATA_and_pending_xattrops_are_refused()
    {
        await using var brick = await InProcessBrick.StartAsync(lockOptions: [], secret: false, healIndex: true);
        var pending = PosixTranslator.PendingXattrPrefix + "brick-1";
        var one = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(one, 1);
        var root = Loc.Nameless(Gfid.Root);
        Assert.True((await brick.Locks!.XattropAsync(FopContext.Root(), root, pending, one)).Ok);

        var (g, c) = await brick.ConnectAsync();
        Assert.Equal(Errno.ENODATA, (await c.GetxattrAsync(FopContext.Root(), root, IndexTranslator.ListKey)).Error);
        Assert.False((await c.XattropAsync(FopContext.Root(), root, pending, one)).Ok);
        Assert.Equal(Errno.ENODATA, (await c.GetxattrAsync(FopContext.Root(), root, pending)).Error);

        var trusted = await brick.Locks.GetxattrAsync(FopContext.Root(), root, IndexTranslator.ListKey);
        Assert.Equal(Gfid.Root.ToBytes(), trusted.Value);
        await g.StopAsync();
    }
}
