using Graft.Core;
using Cmd = Graft.Core.DomainLockCmd;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Blocking inodelk/entrylk through protocol/client and server: a parked wait takes none of its
/// connection's request slots, and a holder whose connection dies loses its domain locks when its
/// session ends, which lets the waiter through.
/// </summary>
public class BlockingDomainLocksOverTheWire
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static FopContext Owner(ulong owner) => new() { LockOwner = owner, Pid = (int)owner };

    private static Dictionary<string, string> As(Guid mount, int? port = null)
    {
        var o = new Dictionary<string, string> { ["mount-identity"] = mount.ToString() };
        if (port is { } p) o["remote-port"] = p.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return o;
    }

    [Fact]
    public async Task Parked_waits_leave_the_connection_serving_other_requests()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["max-requests-in-service"] = "1" }, lockOptions: []);
        var (ga, a) = await brick.ConnectAsync(As(Guid.NewGuid()));
        var (gb, b) = await brick.ConnectAsync(As(Guid.NewGuid()));
        var root = Loc.Nameless(Gfid.Root);
        Assert.Equal(Errno.OK, await a.InodeLkAsync(Owner(1), root, "d", Cmd.Lock, LockType.Write, 0, 0));
        Assert.Equal(Errno.OK, await a.EntryLkAsync(Owner(1), root, "d", null, Cmd.Lock, LockType.Write));
        var w1 = b.InodeLkAsync(Owner(2), root, "d", Cmd.LockBlocking, LockType.Read, 0, 0).AsTask();
        var w2 = b.EntryLkAsync(Owner(2), root, "d", "x", Cmd.LockBlocking, LockType.Write).AsTask();
        await ClientGraphs.Until(() => brick.Locks!.Counts.DomainWaiting == 2, "both waits parked on the brick");
        // With one request slot per connection, these would wait behind the parked locks if those held it.
        Assert.True((await b.StatAsync(Owner(2), root).AsTask().WaitAsync(Bound)).Ok);
        Assert.Equal(Errno.EAGAIN, await b.InodeLkAsync(Owner(2), root, "d", Cmd.Lock, LockType.Write, 0, 0).AsTask().WaitAsync(Bound));
        Assert.False(w1.IsCompleted || w2.IsCompleted);

        Assert.Equal(Errno.OK, await a.InodeLkAsync(Owner(1), root, "d", Cmd.Unlock, LockType.Write, 0, 0));
        Assert.Equal(Errno.OK, await w1.WaitAsync(Bound));
        Assert.False(w2.IsCompleted);
        Assert.Equal(Errno.OK, await a.EntryLkAsync(Owner(1), root, "d", null, Cmd.Unlock, LockType.Write));
        Assert.Equal(Errno.OK, await w2.WaitAsync(Bound));
        await ga.StopAsync();
        await gb.StopAsync();
    }

    [Fact]
    public async Task A_holder_whose_connection_dies_loses_its_domain_locks_when_its_session_ends()
    {
        await using var brick = await InProcessBrick.StartAsync(new() { ["grace-timeout"] = "1s" }, lockOptions: []);
        await using var proxy = new TcpProxy(brick.Port);
        var (ga, a) = await brick.ConnectAsync(As(Guid.NewGuid(), proxy.Port));
        var (gb, b) = await brick.ConnectAsync(As(Guid.NewGuid()));
        var root = Loc.Nameless(Gfid.Root);
        Assert.Equal(Errno.OK, await a.InodeLkAsync(Owner(1), root, "replicate", Cmd.Lock, LockType.Write, 0, 0));
        var waiting = b.InodeLkAsync(Owner(2), root, "replicate", Cmd.LockBlocking, LockType.Write, 0, 0).AsTask();
        await ClientGraphs.Until(() => brick.Locks!.Counts.DomainWaiting == 1, "queued on the brick");
        proxy.Refusing = true;
        proxy.CutAll();
        Assert.Equal(Errno.OK, await waiting.WaitAsync(Bound));
        Assert.Equal(1, brick.Locks!.Counts.DomainHeld);
        await ga.StopAsync();
        await gb.StopAsync();
    }
}
