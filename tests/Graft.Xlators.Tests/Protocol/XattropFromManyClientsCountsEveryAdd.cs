using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// xattrop travels the wire (the generated client and server code, no hand-written line for it) and
/// stays atomic on the brick when two client connections add to the same counters at once.
/// </summary>
public class XattropFromManyClientsCountsEveryAdd
{
    [Fact]
    public async Task Two_clients_adding_concurrently_lose_no_add()
    {
        await using var brick = await InProcessBrick.StartAsync();
        var (ga, a) = await brick.ConnectAsync();
        var (gb, b) = await brick.ConnectAsync();
        try
        {
            var ctx = FopContext.Root();
            var gfid = Gfid.NewGfid();
            Assert.True((await a.MkdirAsync(ctx, Loc.Child(Gfid.Root, "d"), 0x1ed, 0, gfid)).Ok);
            var delta = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(delta, 3);
            const int adds = 100;
            async Task Add(Translator t)
            {
                for (int i = 0; i < adds; i++) Assert.True((await t.XattropAsync(ctx, Loc.Nameless(gfid), "user.pending", delta)).Ok);
            }
            await Task.WhenAll(Task.Run(() => Add(a)), Task.Run(() => Add(b)));
            var value = (await b.GetxattrAsync(ctx, Loc.Nameless(gfid), "user.pending")).Value;
            Assert.Equal(2 * adds * 3L, BinaryPrimitives.ReadInt64BigEndian(value));
            Assert.Equal(Errno.EINVAL, (await a.XattropAsync(ctx, Loc.Nameless(gfid), "user.pending", new byte[3])).Error);
        }
        finally
        {
            await ga.StopAsync();
            await gb.StopAsync();
        }
    }
}
