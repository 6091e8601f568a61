using Graft.Core;
using Graft.Mount;

namespace Graft.Client.Tests.Switching;

/// <summary>
/// A background write write-behind acknowledged on the old graph fails after the switch, while the
/// old graph still holds it. Every stream of the file that was open — the writer, and a read-only
/// stream that moves to the new graph first — reports it on its next Fsync and on Dispose, on the
/// new graph: a stream does not leave the old graph while it holds the file's bytes, so it cannot
/// leave the failure behind either.
/// </summary>
public class AWriteBackErrorFollowsEveryStreamAcrossASwitch
{
    // Write-behind over a write that waits, then fails (two layers: a delay above a failure).
    private static string Held(string dir) => $"""
        volume posix
            type storage/posix
            option directory {dir}
        end-volume
        volume fail
            type debug/faults
            option fail writev
            option fail-count 1
            subvolumes posix
        end-volume
        volume slow
            type debug/faults
            option delay writev
            option delay-duration 500ms
            subvolumes fail
        end-volume
        volume wb
            type performance/write-behind
            subvolumes slow
        end-volume
        volume top
            type debug/passthrough
            subvolumes wb
        end-volume
        """;

    [Fact]
    public async Task The_writer_and_a_reader_that_moved_first_both_get_EIO_on_fsync_and_dispose()
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-client-tests", "wb-follow-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using var v = await Volume.OpenVolfileTextAsync(Held(dir), "client.vol",
                new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10), RetirementTimeout = TimeSpan.FromSeconds(20) });
            var writer = await v.OpenAsync("/f", OpenFlags.O_CREAT | OpenFlags.O_WRONLY);
            var reader = await v.OpenAsync("/f", OpenFlags.O_RDONLY);
            await writer.WriteAsync(new byte[64]); // acknowledged; below, it waits and then fails
            Assert.Equal(SwitchOutcome.Switched, (await v.ApplyVolfileAsync(SwitchVolume.Volfile(dir, faults: false), "client.vol")).Outcome);

            _ = await reader.ReadAsync(new byte[64]); // the reader moves first (what it reads does not matter)
            Assert.Equal(2, reader.Handle.Fd.Graph!.Generation);
            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await reader.FsyncAsync())).Errno);
            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await writer.FsyncAsync())).Errno);
            await writer.FsyncAsync();
            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await writer.DisposeAsync())).Errno);
            Assert.Equal(Errno.EIO, (await Assert.ThrowsAsync<GraftIOException>(async () => await reader.DisposeAsync())).Errno);
        }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
    }
}
