using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// An application that writes through a mount and checks fsync(2) (or fdatasync(2)) and close(2) learns that
/// write-behind could not write its acknowledged bytes, with the cause it can act on (here ENOSPC
/// from the layer below); one that never fsyncs learns it from close(2) alone.
/// </summary>
public class AWriteBackFailureReachesFsyncAndCloseThroughFuse
{
    [MountTheory]
    [InlineData("fsync")]
    [InlineData("fdatasync")]
    public async Task Fsync_and_close_report_ENOSPC_and_close_alone_reports_it_without_an_fsync(string sync)
    {
        await using var m = await WriteBackMount.UpAsync("wb-fuse",
            ["option fail writev", "option fail-count 2", "option fail-errno ENOSPC"]);
        await using var app = await LockProcess.StartAsync("app");
        await app.ExpectAsync($"open x {m.P("x")} wc", "ok");
        await app.ExpectAsync($"open y {m.P("y")} wc", "ok");
        await app.ExpectAsync("write x 0 some-bytes", "ok 10");
        await app.ExpectAsync("write y 0 more-bytes", "ok 10");
        await m.BackgroundWritesDoneAsync();

        await app.ExpectAsync($"{sync} x", "err ENOSPC");
        await app.ExpectAsync("close x", "err ENOSPC");
        await app.ExpectAsync("close y", "err ENOSPC");
        Assert.Equal(3, m.Mount.Counter("writeBackErrorsReported"));
    }
}
