using Graft.Core;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// PARENT_DOWN → (in-flight calls finish, goodbye, the brick frees this client's fds at once) →
/// PARENT_DOWN_HANDLED, in that order.
/// </summary>
public class ParentDownDrainsFirst
{
    [Fact]
    public async Task Parent_down_handled_comes_after_in_flight_calls_and_a_clean_close()
    {
        var temp = BrickProcess.NewTempDir();
        await using var brick = await BrickProcess.ServeDirAsync(temp, 0, "--name", "b", "--grace-timeout", "60");
        var g = await NetClient.ConnectAsync(brick.Port, "b");
        var c = (ProtocolClient)g.Top;
        var root = FopContext.Root();
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        Assert.True((await c.CreateAsync(root, Loc.Child(Gfid.Root, "f"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd)).Ok);

        var order = new List<string>();
        g.TopEvent += ev => { if (ev == GraphEvent.ParentDownHandled) lock (order) order.Add("handled"); };
        var writes = Enumerable.Range(0, 8).Select(async i =>
        {
            var r = await c.WritevAsync(root, fd, new byte[1 << 20], (long)i << 20);
            lock (order) order.Add(r.Ok ? "write ok" : "write " + r.Error.Name());
        }).ToList();
        await NetClient.Until(() => c.InFlight > 0 || writes.All(w => w.IsCompleted), "writes in flight");

        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(5));
        // The graph's task completes before its TopEvent subscribers run: wait for the handler's entry too.
        await NetClient.Until(() => { lock (order) return order.Count == 9; }, "nine entries", 5000);

        lock (order)
        {
            Assert.Equal(9, order.Count);
            Assert.Equal("handled", order[^1]);
            Assert.All(order.Take(8), s => Assert.Equal("write ok", s));
        }
        Assert.False(c.IsConnected);
        Assert.Equal(Errno.ENOTCONN, (await c.StatAsync(root, Loc.Nameless(Gfid.Root))).Error);
        // A clean goodbye: the brick freed the fd at once, though its grace is a minute.
        await brick.WaitForLogAsync("clean disconnect, released 1 fd(s)", 5000);
        await g.DestroyAsync();
        Directory.Delete(temp, true);
    }
}
