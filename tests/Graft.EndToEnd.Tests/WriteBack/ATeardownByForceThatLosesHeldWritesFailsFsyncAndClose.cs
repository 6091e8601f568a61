using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// Write-behind holds a file's acknowledged bytes (debug/faults below it never answers the
/// background write) when the mount switches graphs. The old graph cannot drain, so it is torn down
/// by force at retirement_timeout — the switch and other files carry on — and the bytes are gone:
/// that file's next fsync(2) and its close(2) fail with EIO. A file whose writes had landed is not
/// affected.
/// </summary>
public class ATeardownByForceThatLosesHeldWritesFailsFsyncAndClose
{
    [MountFact]
    public async Task The_file_whose_bytes_were_held_gets_EIO_and_the_others_do_not()
    {
        // The default sweep is kept: it must not wait for the held file beyond the bound either.
        await using var m = await WriteBackMount.UpAsync("wb-forced", ["option drop writev", "option drop-count 1"], "retirement_timeout=2");
        await using var app = await LockProcess.StartAsync("app");
        await app.ExpectAsync($"open held {m.P("held")} rwc", "ok");
        await app.ExpectAsync($"open landed {m.P("landed")} rwc", "ok");
        await app.ExpectAsync("write held 0 never-written", "ok 13"); // acknowledged; its background write is dropped
        await Proc.Until(() => m.HeldBytes() > 0, "write-behind holds the bytes");
        await app.ExpectAsync("write landed 0 written", "ok 7");
        await app.ExpectAsync("fsync landed", "ok");

        await m.Mount.ApplyAsync(m.Mount.Original); // no faults, no write-behind: a new graph
        await m.Mount.OneGraphAliveAsync(seconds: 30);
        Assert.Equal(1, m.Mount.Counter("retirementsForced"));

        await app.ExpectAsync("fsync held", "err EIO");
        await app.ExpectAsync("fsync held", "ok");
        await app.ExpectAsync("fsync landed", "ok");
        await app.ExpectAsync("close landed", "ok");
        await app.ExpectAsync("close held", "err EIO");
        await app.ExpectAsync($"stat {m.P("landed")}", "ok 7");
    }
}
