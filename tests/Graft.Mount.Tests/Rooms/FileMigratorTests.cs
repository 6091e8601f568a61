using Graft.Core;

namespace Graft.Mount.Tests.Rooms;

internal static class Files
{
    public static readonly TimeSpan NoSweep = TimeSpan.FromHours(1);

    public static async Task<MountFile> OpenWrittenAsync(SwitchingSession t, string name)
    {
        var s = t.Session;
        var c = TestSession.Ok(await s.CreateAsync(t.Ctx, s.Root, name, OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        TestSession.Ok(await s.WriteAsync(t.Ctx, c.File, "abc"u8.ToArray(), 0));
        return c.File;
    }
}

/// <summary>Concurrent calls on a file that is behind move it once; every one of them gets the new fd.</summary>
public class AMoveIsSingleFlight
{
    [Fact]
    public async Task Eight_callers_one_migration()
    {
        await using var t = await SwitchingSession.StartAsync(Files.NoSweep);
        var file = await Files.OpenWrittenAsync(t, "f");
        await t.SwitchAsync();
        var g = t.Session.ActiveGraph;
        using var lease = GraphSet.Hold(g);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => t.Session.Migrator.ResolveAsync(file, g).AsTask()));

        Assert.All(outcomes, o => Assert.Equal(FdResolution.Ready, o.Kind));
        Assert.All(outcomes, o => Assert.Same(file.Fd, o.Fd));
        Assert.Same(g, file.Fd.Graph);
        Assert.Equal(1, SwitchingSession.BrickOf(g).Opens);
        Assert.Equal(1, t.Session.GetState().Counters.FdMigrations);
        foreach (var o in outcomes) await t.Session.PutFdAsync(o.Fd!);
    }
}

/// <summary>A caller that entered an older graph than the one the file is on is told to enter again (a typed answer, never an errno), and the file stays put.</summary>
public class AFileNeverMovesBack
{
    [Fact]
    public async Task A_caller_on_an_older_graph_gets_MovedPast()
    {
        await using var t = await SwitchingSession.StartAsync(Files.NoSweep);
        var file = await Files.OpenWrittenAsync(t, "f");
        var old = await t.SwitchAsync();
        TestSession.Ok(await t.Session.GetattrAsync(t.Ctx, file)); // moves it to the new graph
        var moved = file.Fd;

        var o = await t.Session.Migrator.ResolveAsync(file, old);
        Assert.Equal(FdResolution.MovedPast, o.Kind);
        Assert.Null(o.Fd);
        Assert.Same(moved, file.Fd);
    }
}

/// <summary>
/// A move that fails hurts that one call: it fails with the cause, the file stays on its graph and
/// the failure is counted; the next call moves it (DESIGN invariant 7).
/// </summary>
public class AFailedMoveFailsOneCallAndTheNextRetries
{
    [Fact]
    public async Task The_open_on_the_new_graph_fails_once()
    {
        await using var t = await SwitchingSession.StartAsync(Files.NoSweep);
        var file = await Files.OpenWrittenAsync(t, "f");
        var old = await t.SwitchToFaultsAsync("fail open", "fail-errno ENOTCONN", "fail-count 1");

        Assert.Equal(Errno.ENOTCONN, (await t.Session.GetattrAsync(t.Ctx, file)).Error);
        Assert.Same(old, file.Fd.Graph);
        Assert.Equal(Errno.ENOTCONN, file.LastMigrationError);
        Assert.Equal(Errno.OK, file.Failure); // not failed closed: it holds no locks
        Assert.Equal(1, t.Session.GetState().Counters.FdMigrationFailures);

        Assert.Equal(3, TestSession.Ok(await t.Session.GetattrAsync(t.Ctx, file)).Size);
        Assert.Same(t.Session.ActiveGraph, file.Fd.Graph);
        Assert.Equal(Errno.OK, file.LastMigrationError);
    }
}

/// <summary>The old fd is drained with an fsync before the file moves, never a FLUSH (that is close(), which drops the owner's POSIX locks).</summary>
public class AMoveDrainsWithAnFsyncNeverAFlush
{
    [Fact]
    public async Task Fsync_on_the_old_graph_and_no_flush_anywhere()
    {
        await using var t = await SwitchingSession.StartAsync(Files.NoSweep);
        var file = await Files.OpenWrittenAsync(t, "f");
        var old = await t.SwitchAsync();
        var oldBrick = SwitchingSession.BrickOf(old);
        Assert.Equal(0, oldBrick.Fsyncs);

        TestSession.Ok(await t.Session.GetattrAsync(t.Ctx, file));
        Assert.Same(t.Session.ActiveGraph, file.Fd.Graph);
        Assert.Equal(1, oldBrick.Fsyncs);
        Assert.Equal(0, oldBrick.Flushes);
        Assert.Equal(0, SwitchingSession.BrickOf(t.Session.ActiveGraph).Flushes);
        Assert.Equal(1, oldBrick.Releases); // the old fd let go once the new one was published
    }
}
