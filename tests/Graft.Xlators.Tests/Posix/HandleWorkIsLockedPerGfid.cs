using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// Dropping an unlinked file's handle (which reads the handle's directories, from disk when they are cold) holds a
/// lock of that GFID's only, not one of the whole brick: unlinks of other files go on meanwhile, and an unlink of the
/// same GFID waits for it (the unlinked-but-open rule stays whole: PosixGfidTests.File_unlinked_while_open_stays_reachable_by_gfid_until_release).
/// </summary>
public sealed class HandleWorkIsLockedPerGfid
{
    private static FopContext Root => PosixBrick.Root;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [PosixFact]
    public async Task An_unlink_does_not_wait_for_another_files_handle_work_but_waits_for_its_own()
    {
        await using var b = await PosixBrick.StartAsync();
        var a = Gfid.NewGfid();
        var other = Gfid.NewGfid();
        while (ReferenceEquals(b.Xl.HandleLockOf(other), b.Xl.HandleLockOf(a))) other = Gfid.NewGfid();
        foreach (var (name, g) in new[] { ("a", a), ("other", other) })
        {
            var (_, fd) = await b.CreateOk(Gfid.Root, name, gfid: g);
            await b.Release(fd);
        }

        // Another thread is in the middle of a's handle work (it holds a's lock, as a slow drop would).
        using var taken = new ManualResetEventSlim();
        using var letGo = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (b.Xl.HandleLockOf(a))
            {
                taken.Set();
                letGo.Wait(Bound);
            }
        }) { IsBackground = true };
        holder.Start();
        Assert.True(taken.Wait(Bound));
        try
        {
            var otherUnlink = Task.Run(async () => await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "other")));
            Assert.True(otherUnlink.Wait(Bound), "another file's unlink finished while a's handle lock was held");
            Assert.Equal(Errno.OK, await otherUnlink);
            Assert.True(await Gone(b.HandlePath(other)), "and its handle was dropped (behind the reply)");

            var ownUnlink = Task.Run(async () => await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "a")));
            Assert.False(ownUnlink.Wait(TimeSpan.FromMilliseconds(300)), "a's own unlink waits for a's handle lock");
            letGo.Set();
            Assert.True(ownUnlink.Wait(Bound), "a's unlink finished once the lock was let go");
            Assert.Equal(Errno.OK, await ownUnlink);
            Assert.True(await Gone(b.HandlePath(a)), "a's handle is gone with its last name (behind the reply)");
        }
        finally
        {
            letGo.Set();
            holder.Join(Bound);
        }
    }

    private static async Task<bool> Gone(string path)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (File.Exists(path))
        {
            if (sw.Elapsed > Bound) return false;
            await Task.Delay(10);
        }
        return true;
    }
}
