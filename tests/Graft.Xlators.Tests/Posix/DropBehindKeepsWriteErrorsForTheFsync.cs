using System.Diagnostics;
using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// drop-behind waits for a chunk to be on disk with sync_file_range, and such a wait checks and consumes the write-back
/// error of the open file it is made through. The brick's fd must still report a failed write-back at the client's
/// fsync: the wait goes through a file of its own. The failure is real: the brick lives on ext4 on a loop device whose
/// image sits on a small tmpfs that a ballast file fills, so the first chunks' write-back fails (ENOSPC/EIO) under the
/// brick; the ballast is then removed, so what is written after (the last chunk, the fsync's own writes) succeeds and
/// only the failures the drops waited for are left to report.
/// </summary>
public sealed class DropBehindKeepsWriteErrorsForTheFsync
{
    private const int MiB = 1 << 20;

    [PosixTheory]
    [InlineData("on")]
    [InlineData("off")]
    public async Task A_failed_writeback_is_reported_by_the_fsync(string dropBehind)
    {
        var temp = PosixBrick.NewTempDir();
        string small = Path.Combine(temp, "small"), mnt = Path.Combine(temp, "mnt"), image = Path.Combine(small, "img");
        Directory.CreateDirectory(small);
        Directory.CreateDirectory(mnt);
        string? loop = null;
        bool smallMounted = false, mntMounted = false;
        try
        {
            await Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small);
            smallMounted = true;
            await Run("truncate", "-s", "64M", image);
            await Run("mkfs.ext4", "-q", "-O", "^has_journal", "-E", "nodiscard", image);
            loop = (await Run("losetup", "-f", "--show", image)).Trim();
            await Run("mount", "-o", "errors=continue", loop, mnt);
            mntMounted = true;
            string ballast = Path.Combine(small, "ballast");
            await using (var b = await PosixBrick.StartAsync(temp: temp, dir: Path.Combine(mnt, "brick"), ownsTemp: false,
                             writebackChunk: "4MB", dropBehind: dropBehind))
            {
                var (_, fd) = await b.CreateOk(Gfid.Root, "f");
                Assert.Equal(Errno.OK, await b.Xl.FsyncAsync(PosixBrick.Root, fd, dataOnly: false));   // the file's metadata, before the tmpfs fills
                await Fill(ballast);
                var data = new byte[MiB];
                new Random(9).NextBytes(data);
                var pf = Assert.IsType<Storage.Posix.PosixFd>(fd.GetCtx(b.Xl));
                // Chunks 1 and 2 with the tmpfs full: their write-back fails; the start of chunk 2 waits for chunk 1.
                await WriteAsync(b, fd, data, 0, 8);
                await Protocol.ClientGraphs.Until(() => !pf.WritebackBusy, "chunk 2's start (and chunk 1's wait) to end");
                File.Delete(ballast);
                // Chunk 3 with room again: its start waits for chunk 2 (failed); its own write-back succeeds.
                await WriteAsync(b, fd, data, 8, 12);
                await Protocol.ClientGraphs.Until(() => !pf.WritebackBusy, "chunk 3's start (and chunk 2's wait) to end");
                Assert.True(b.Xl.WritebacksStarted >= 2);
                var e = await b.Xl.FsyncAsync(PosixBrick.Root, fd, dataOnly: true);
                Assert.True(e is Errno.EIO or Errno.ENOSPC, $"the fsync after a failed write-back answered {e}");
                await b.Release(fd);
            }
        }
        finally
        {
            // Each step whatever the one before did; lazily where something (a failed test's open fd) still holds it.
            if (mntMounted && !await TryRun("umount", mnt)) await TryRun("umount", "-l", mnt);
            if (loop is { Length: > 0 }) await TryRun("losetup", "-d", loop);
            if (smallMounted && !await TryRun("umount", small)) await TryRun("umount", "-l", small);
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task WriteAsync(PosixBrick b, Fd fd, byte[] data, int fromMiB, int toMiB)
    {
        for (int i = fromMiB; i < toMiB; i++)
        {
            var r = await b.Xl.WritevAsync(PosixBrick.Root, fd, data, (long)i * MiB);
            Assert.True(r.Ok, $"write {i}: {(r.Ok ? r.Value : r.Error)}");   // buffered: the disk's failure comes later
        }
    }

    /// <summary>Writes <paramref name="path"/> until its filesystem is full.</summary>
    private static async Task Fill(string path)
    {
        await using var f = new FileStream(path, System.IO.FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        var block = new byte[64 * 1024];
        try { while (true) await f.WriteAsync(block); }
        catch (IOException) { }
    }

    private static async Task<bool> TryRun(string file, params string[] args)
    {
        try { await Run(file, args); return true; }
        catch (Exception e) when (e is Xunit.Sdk.XunitException or TimeoutException) { return false; }
    }

    private static async Task<string> Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {await error}");
        return await output;
    }
}
