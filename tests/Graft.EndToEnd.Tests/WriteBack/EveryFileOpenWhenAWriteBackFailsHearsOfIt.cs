using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// A write-back failure belongs to the file, not to the fd that wrote: every open of the file at the
/// time — another open of the same process, read-only, another process's — fails its next fsync(2)
/// with EIO and its close(2) too; an open made after the failure hears nothing; each open's second
/// fsync succeeds.
/// </summary>
public class EveryFileOpenWhenAWriteBackFailsHearsOfIt
{
    [MountFact]
    public async Task Opens_at_the_time_get_EIO_on_fsync_and_close_and_a_later_open_does_not()
    {
        await using var m = await WriteBackMount.UpAsync("wb-every-open", ["option fail writev", "option fail-count 1"]);
        await using var a = await LockProcess.StartAsync("A");
        await using var b = await LockProcess.StartAsync("B");
        var path = m.P("shared");
        await a.ExpectAsync($"open w {path} rwc", "ok");
        await a.ExpectAsync($"open r {path} r", "ok");
        await b.ExpectAsync($"open o {path} rw", "ok");
        await a.ExpectAsync("write w 0 record", "ok 6");
        await m.BackgroundWritesDoneAsync();
        await a.ExpectAsync($"open late {path} rw", "ok");

        await a.ExpectAsync("fsync w", "err EIO");
        await a.ExpectAsync("fsync w", "ok");
        await a.ExpectAsync("fsync r", "err EIO");
        await b.ExpectAsync("fdatasync o", "err EIO");
        await b.ExpectAsync("fdatasync o", "ok");
        await a.ExpectAsync("fsync late", "ok");

        await a.ExpectAsync("close late", "ok");
        await a.ExpectAsync("close w", "err EIO");
        await a.ExpectAsync("close r", "err EIO");
        await b.ExpectAsync("close o", "err EIO");
    }
}
