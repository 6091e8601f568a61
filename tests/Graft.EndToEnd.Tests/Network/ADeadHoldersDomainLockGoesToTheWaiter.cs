using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Tests.Protocol;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// Two client sessions of a `graft brick` process contend for an inodelk; the holder's connection
/// is cut (no goodbye) and it cannot come back: once the brick's grace for its session ends, the
/// holder's domain lock goes and the waiting session is granted, within the brick's wait bound.
/// </summary>
public class ADeadHoldersDomainLockGoesToTheWaiter
{
    [Fact]
    public async Task The_waiter_gets_the_lock_when_the_holders_session_ends()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        // One lock wait per session: a second blocking request answered ENOLCK at once proves the first is parked on the brick.
        await using var brick = await BrickProcess.ServeDirAsync(dir, 0, "--grace-timeout", "1s", "--max-lock-waits-per-session", "1");
        await using var proxy = new TcpProxy(brick.Port);
        var holder = await WireMount.ConnectAsync(proxy.Port, "b", Guid.NewGuid());
        var waiter = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        try
        {
            var (fd, gfid) = await holder.CreateAsync("f");
            var file = Loc.Nameless(gfid);
            Assert.Equal(Errno.OK, await holder.Graph.Top.InodeLkAsync(holder.Ctx(1), file, "replicate", Cmd.Lock, LockType.Write, 0, 0));
            Assert.Equal(Errno.EAGAIN, await waiter.Graph.Top.InodeLkAsync(waiter.Ctx(2), file, "replicate", Cmd.Lock, LockType.Read, 0, 0));
            var waiting = waiter.Graph.Top.InodeLkAsync(waiter.Ctx(2), file, "replicate", Cmd.LockBlocking, LockType.Write, 0, 0).AsTask();
            await NetClient.Until(async () =>
                await waiter.Graph.Top.InodeLkAsync(waiter.Ctx(3), file, "other", Cmd.LockBlocking, LockType.Write, 0, 0) == Errno.ENOLCK,
                "the blocking request parked on the brick");

            proxy.Refusing = true;
            var cut = Stopwatch.StartNew();
            proxy.CutAll();
            // Bound: the brick's grace for the lost session (1 s) and slack for a loaded machine, well below
            // the wait bound (domain-lock-timeout, 60 s), which would answer EAGAIN instead.
            Assert.Equal(Errno.OK, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(cut.Elapsed >= TimeSpan.FromSeconds(0.9), $"granted {cut.ElapsedMilliseconds} ms after the cut: before the holder's session could have ended");
            Assert.Equal(Errno.EAGAIN, await waiter.Graph.Top.InodeLkAsync(waiter.Ctx(4), file, "replicate", Cmd.Lock, LockType.Read, 0, 0));
            Assert.Equal(Errno.OK, await waiter.Graph.Top.InodeLkAsync(waiter.Ctx(2), file, "replicate", Cmd.Unlock, LockType.Write, 0, 0));
        }
        finally
        {
            await waiter.StopAsync();
            await holder.Graph.DestroyAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }
}
