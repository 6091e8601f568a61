using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Network;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// The brick of a mounted volume is killed with SIGKILL and restarted: the new brick process knows
/// nothing of the mount's session, so the mount reopens its files by GFID and carries on. Writes the
/// old brick acknowledged and no fsync covered may have died with it: that file's next fsync(2)
/// fails with EIO (and its close(2)), instead of the file going on as if nothing happened. A file
/// whose writes were all fsynced before the kill carries on with no error.
/// </summary>
public class ABrickRestartThatLostUnsyncedWritesFailsTheNextFsync
{
    [MountFact]
    public async Task The_unsynced_file_fails_its_next_fsync_with_EIO_and_the_synced_one_does_not()
    {
        await using var v = await MountedVolume.UpAsync("wb-restart");
        BrickProcess? restarted = null;
        try
        {
            await using var app = await LockProcess.StartAsync("app");
            await app.ExpectAsync($"open synced {v.P("synced")} rwc", "ok");
            await app.ExpectAsync($"open unsynced {v.P("unsynced")} rwc", "ok");
            await app.ExpectAsync("write synced 0 durable", "ok 7");
            await app.ExpectAsync("fsync synced", "ok");
            await app.ExpectAsync("write unsynced 0 at-risk", "ok 7"); // the brick has it, not yet durably

            await v.KillBrickAsync();
            restarted = await v.RestartBrickAsync();
            await Proc.Until(v.ChildrenUp, "the mount reconnected and reopened its files", seconds: 30);

            await app.ExpectAsync("fsync synced", "ok");
            await app.ExpectAsync("fsync unsynced", "err EIO");
            await app.ExpectAsync("fsync unsynced", "ok");            // reported once
            await app.ExpectAsync("write unsynced 7 more", "ok 4");    // the reopened file works
            await app.ExpectAsync("fsync unsynced", "ok");
            await app.ExpectAsync("close synced", "ok");
            await app.ExpectAsync("close unsynced", "err EIO");
        }
        finally
        {
            if (restarted is not null) await restarted.DisposeAsync();
        }
    }
}
