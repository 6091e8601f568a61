using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// A write write-behind acknowledged fails below it in the background. What the kernel asks on its
/// own in between — GETATTR by file handle, which lseek(SEEK_END) makes it send, and a stat(2) —
/// neither fails nor consumes the error: the application's next fsync(2) fails with EIO, the one
/// after succeeds, and close(2) fails with EIO. (Before errseq, the GETATTR got the error and the
/// fsync returned 0.)
/// </summary>
public class KernelGetattrDoesNotSwallowAWriteBackError
{
    [MountFact]
    public async Task Fsync_after_a_kernel_getattr_still_fails_with_EIO_and_so_does_close()
    {
        await using var m = await WriteBackMount.UpAsync("wb-getattr", ["option fail writev", "option fail-count 1"]);
        await using var app = await LockProcess.StartAsync("app");
        await app.ExpectAsync($"open f {m.P("f")} rwc", "ok");
        await app.ExpectAsync("write f 0 hello", "ok 5");   // acknowledged by write-behind
        await m.BackgroundWritesDoneAsync();                // and failed below it

        // GETATTR with the fh: the size comes from the brick, which never got the bytes.
        await app.ExpectAsync("seekend f", "ok 0");
        await app.ExpectAsync($"stat {m.P("f")}", "ok 0");
        await app.ExpectAsync("write f 5 world", "ok 5");   // writes go on (Linux reports write-back errors to fsync and close)
        await app.ExpectAsync("fsync f", "err EIO");
        await app.ExpectAsync("fsync f", "ok");              // reported once
        await app.ExpectAsync("close f", "err EIO");          // close says whether every write landed
        Assert.Equal(2, m.Mount.Counter("writeBackErrorsReported"));
    }
}
