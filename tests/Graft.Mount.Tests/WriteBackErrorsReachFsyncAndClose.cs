using Graft.Core;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Performance.WriteBehind;

namespace Graft.Mount.Tests;

/// <summary>
/// The session reports a failed write-back as Linux does: to every open file that was open when it
/// happened, on its next fsync (once) and on its close; no other call returns or consumes it.
/// Graph: in-memory brick, debug/faults failing the first write below write-behind.
/// </summary>
public class WriteBackErrorsReachFsyncAndClose
{
    [Fact]
    public async Task Fsync_reports_it_once_per_open_file_close_always_and_getattr_read_write_never()
    {
        var graph = Graph.Linear(1,
            (MemoryBrick.Spec, "mem", null),
            (FaultsTranslator.Spec, "faults", new Dictionary<string, string> { ["fail"] = "writev", ["fail-count"] = "1", ["fail-errno"] = "ENOSPC" }),
            (WriteBehindTranslator.Spec, "wb", null));
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        await using var s = new MountSession(graph);
        var ctx = FopContext.Root();
        var wb = (WriteBehindTranslator)graph.Top;

        var created = TestSession.Ok(await s.CreateAsync(ctx, s.Root, "f", OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0));
        var a = created.File;
        var b = TestSession.Ok(await s.OpenAsync(ctx, created.Node, OpenFlags.O_RDONLY));
        Assert.Equal(4, TestSession.Ok(await s.WriteAsync(ctx, a, new byte[4], 0))); // acknowledged ...
        await Until(() => wb.Failures == 1 && wb.BytesHeld == 0);                   // ... and lost below
        var later = TestSession.Ok(await s.OpenAsync(ctx, created.Node, OpenFlags.O_RDWR));

        // What the kernel does on its own (getattr by fh), reads and further writes neither fail nor consume it.
        Assert.True((await s.GetattrAsync(ctx, a)).Ok);
        Assert.True((await s.GetattrAsync(ctx, b)).Ok);
        Assert.True((await s.ReadAsync(ctx, b, new byte[4], 0)).Ok);
        Assert.Equal(Errno.ENOSPC, s.PendingWriteBackError(a));

        Assert.Equal(Errno.ENOSPC, await s.FsyncAsync(ctx, a, dataOnly: false));
        Assert.Equal(Errno.OK, await s.FsyncAsync(ctx, a, dataOnly: false));   // reported once
        Assert.Equal(Errno.OK, s.PendingWriteBackError(a));
        Assert.Equal(Errno.ENOSPC, await s.FsyncAsync(ctx, b, dataOnly: true)); // b was open too (fdatasync)
        Assert.Equal(Errno.OK, await s.FsyncAsync(ctx, later, dataOnly: false)); // opened after the error

        Assert.Equal(Errno.OK, await s.FlushAsync(ctx, later));
        Assert.Equal(Errno.ENOSPC, await s.FlushAsync(ctx, a)); // close says so even after fsync did
        Assert.Equal(Errno.ENOSPC, await s.FlushAsync(ctx, b));
        Assert.Equal(4, s.GetState().Counters.WriteBackErrorsReported); // two fsyncs, two closes
        foreach (var f in new[] { a, b, later }) await s.ReleaseAsync(f);
    }

    private static async Task Until(Func<bool> cond)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!cond())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(5);
        }
    }
}
