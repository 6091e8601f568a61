using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Features.Index;
using Graft.Xlators.Storage.Posix;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// The standard brick graph of `graft brick --dir` keeps the heal index: a trusted client lists a
/// file after an xattrop left a pending counter non-zero, not after it returned to zero, and still
/// after the brick process restarts on the same directory.
/// </summary>
public class TheHealIndexOfABrickProcess
{
    private const string Pending = PosixTranslator.PendingXattrPrefix + "b-client-1";

    private static byte[] Counter(long v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, v);
        return b;
    }

    private static async Task<List<Gfid>> ListAsync(WireMount m)
    {
        var r = await m.Graph.Top.GetxattrAsync(m.Ctx(), Loc.Nameless(Gfid.Root), IndexTranslator.ListKey);
        Assert.True(r.Ok, $"listing the index: {r.Error}");
        return Enumerable.Range(0, r.Value.Length / 16).Select(i => Gfid.FromBytes(r.Value.AsSpan(i * 16, 16))).ToList();
    }

    [Fact]
    public async Task The_index_lists_a_file_while_its_counter_is_non_zero_and_across_a_restart()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        var brick = await BrickProcess.ServeDirAsync(dir);
        int port = brick.Port;
        var m = await WireMount.ConnectAsync(port, "b", Guid.NewGuid());
        try
        {
            var (fd, gfid) = await m.CreateAsync("f");
            await m.ReleaseAsync(fd);
            var file = Loc.Nameless(gfid);
            Assert.Empty(await ListAsync(m));
            Assert.True((await m.Graph.Top.XattropAsync(m.Ctx(), file, Pending, Counter(1))).Ok);
            Assert.Equal([gfid], await ListAsync(m));
            Assert.True((await m.Graph.Top.XattropAsync(m.Ctx(), file, Pending, Counter(-1))).Ok);
            Assert.Empty(await ListAsync(m));
            Assert.True((await m.Graph.Top.XattropAsync(m.Ctx(), file, Pending, Counter(2))).Ok);

            Assert.Equal(0, await brick.StopAsync());
            await brick.DisposeAsync();
            brick = await BrickProcess.ServeDirAsync(dir, port);
            await NetClient.Until(() => Task.FromResult(m.Client.IsConnected && m.Client.Connects >= 2), "client reconnected to the restarted brick");
            Assert.Equal([gfid], await ListAsync(m));
            Assert.True(File.Exists(Path.Combine(dir, ".graft", "indices", "pending", gfid.ToString())));
        }
        finally
        {
            await m.StopAsync();
            await brick.DisposeAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }
}
