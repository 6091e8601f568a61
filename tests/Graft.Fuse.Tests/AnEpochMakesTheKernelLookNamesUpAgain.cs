using Graft.Core;
using Graft.Fuse.Bridge;

namespace Graft.Fuse.Tests;

/// <summary>
/// FUSE_NOTIFY_INC_EPOCH (FuseSession.NotifyIncEpochAsync), which the bridge sends when names it let the kernel keep
/// for the notified lifetimes may have gone stale (notices lost with a connection, a graph switch): every name the
/// kernel cached, found or absent, is looked up again at its next use. Shown with 60 s kernel lifetimes over a local
/// brick changed behind the mount's back: before the epoch the kernel answers from its cache, after it from the brick.
/// </summary>
public class AnEpochMakesTheKernelLookNamesUpAgain
{
    [FuseFact]
    public async Task Cached_names_and_absences_are_looked_up_again()
    {
        var minute = TimeSpan.FromSeconds(60);
        await using var m = await BridgeMount.StartAsync(new FuseBridgeOptions { EntryTimeout = minute, AttrTimeout = minute, NegativeTimeout = minute });
        await m.Io(() => File.WriteAllText(m.P("gone"), "x"));
        Assert.True(await m.Io(() => File.Exists(m.P("gone"))));
        Assert.False(await m.Io(() => File.Exists(m.P("new"))));

        // Behind the mount's back: the kernel still answers from what it cached.
        File.Delete(Path.Combine(m.Brick, "gone"));
        File.WriteAllText(Path.Combine(m.Brick, "new"), "y");
        Assert.True(await m.Io(() => File.Exists(m.P("gone"))));
        Assert.False(await m.Io(() => File.Exists(m.P("new"))));

        var e = await m.Fuse.NotifyIncEpochAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(e == Errno.OK, $"INC_EPOCH: {e} (kernel FUSE 7.{m.Fuse.Connection.Minor})");
        Assert.False(await m.Io(() => File.Exists(m.P("gone"))));
        Assert.True(await m.Io(() => File.Exists(m.P("new"))));
    }
}
