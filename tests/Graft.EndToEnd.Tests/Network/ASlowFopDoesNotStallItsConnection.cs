using System.Diagnostics;
using System.Globalization;
using Graft.Core;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A fop that holds its thread on the brick (a long fsync: debug/faults' blocking delay below
/// protocol/server) takes a thread, not the connection: another request on the same connection is
/// answered while it is still blocked, on the .NET thread pool (io-threads 0, the default) and on
/// the brick's own I/O workers. With every worker blocked, the next request waits for one — with
/// io-threads the pool is the bound.
/// </summary>
public class ASlowFopDoesNotStallItsConnection
{
    [Theory]
    [InlineData(0)]    // the default: fops on the .NET thread pool
    [InlineData(16)]   // the brick's own I/O workers
    public async Task A_stat_is_answered_while_fsyncs_on_the_same_connection_are_blocked_on_the_brick(int ioThreads)
    {
        await using var t = await SlowBrick.StartAsync(ioThreads, blockedFsyncs: 4, blockFor: TimeSpan.FromSeconds(60));
        var fsyncs = t.StartFsyncs(4);
        var stat = await t.Client.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(stat.Ok, stat.Error.Name());
        // The fsyncs hold their workers for a minute; the stat came back within 30 s, so it did not wait for them.
        Assert.DoesNotContain(fsyncs, f => f.IsCompleted);
        await t.StopAsync(fsyncs);
    }

    [Fact]
    public async Task With_every_worker_blocked_the_next_request_waits_for_one()
    {
        var blockFor = TimeSpan.FromSeconds(3);
        await using var t = await SlowBrick.StartAsync(ioThreads: 2, blockedFsyncs: 2, blockFor);
        var sent = Stopwatch.StartNew();
        var fsyncs = t.StartFsyncs(2);
        var stat = await t.Client.Top.StatAsync(FopContext.Root(), Loc.Nameless(Gfid.Root)).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        var took = sent.Elapsed;
        Assert.True(stat.Ok, stat.Error.Name());
        // Both workers were taken by the fsyncs sent before it, each blocked for blockFor from after it was sent:
        // the stat could only be served once one of them was done.
        Assert.True(took >= blockFor, $"the stat was answered after {took.TotalMilliseconds:F0} ms, before a worker was free");
        await t.StopAsync(fsyncs);
    }

    /// <summary>A brick process whose fsyncs block their thread, and one client graph (one connection) with a file open on it.</summary>
    private sealed class SlowBrick : IAsyncDisposable
    {
        private readonly string _temp;
        private readonly BrickProcess _brick;
        private readonly Fd _fd;
        public readonly Graph Client;

        private SlowBrick(string temp, BrickProcess brick, Graph client, Fd fd) { _temp = temp; _brick = brick; Client = client; _fd = fd; }

        public static async Task<SlowBrick> StartAsync(int ioThreads, int blockedFsyncs, TimeSpan blockFor)
        {
            var temp = BrickProcess.NewTempDir();
            var dir = Path.Combine(temp, "data");
            Directory.CreateDirectory(dir);
            var vol = Path.Combine(temp, "brick.vol");
            File.WriteAllText(vol, $"""
                volume data-posix
                    type storage/posix
                    option directory {dir}
                end-volume

                volume b
                    type debug/faults
                    option delay fsync
                    option delay-blocks on
                    option delay-count {blockedFsyncs.ToString(CultureInfo.InvariantCulture)}
                    option delay-duration {((long)blockFor.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}ms
                    subvolumes data-posix
                end-volume

                volume server
                    type protocol/server
                    option listen-port 0
                    option secret-file {TestSecret.File}
                    option io-threads {ioThreads.ToString(CultureInfo.InvariantCulture)}
                    subvolumes b
                end-volume
                """);
            var brick = await BrickProcess.StartAsync("--volfile", vol);
            var g = await NetClient.ConnectAsync(brick.Port, "b", new() { ["frame-timeout"] = "120" });
            var gfid = Gfid.NewGfid();
            var fd = FopScenario.NewFd(g.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
            var made = await g.Top.CreateAsync(FopContext.Root(), Loc.Child(Gfid.Root, "big"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
            Assert.True(made.Ok, made.Error.Name());
            return new SlowBrick(temp, brick, g, fd);
        }

        /// <summary>Sends <paramref name="n"/> fsyncs on the open file (in this order, before anything sent after).</summary>
        public Task<Errno>[] StartFsyncs(int n) =>
            [.. Enumerable.Range(0, n).Select(_ => Client.Top.FsyncAsync(FopContext.Root(), _fd, dataOnly: false).AsTask())];

        /// <summary>Stops the brick first (its connection's end wakes the blocked fsyncs), then the client.</summary>
        public async Task StopAsync(Task<Errno>[] fsyncs)
        {
            Assert.Equal(0, await _brick.StopAsync());
            await Task.WhenAll(fsyncs).WaitAsync(TimeSpan.FromSeconds(60));
        }

        public async ValueTask DisposeAsync()
        {
            await Client.StopAsync();
            await _brick.DisposeAsync();
            Directory.Delete(_temp, true);
        }
    }
}
