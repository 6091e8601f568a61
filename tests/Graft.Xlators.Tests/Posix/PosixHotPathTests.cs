using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>readv, writev and fstat on an open fd allocate nothing per call.</summary>
public sealed class PosixHotPathTests
{
    [PosixFact]
    public async Task Readv_writev_fstat_allocate_nothing()
    {
        await using var b = await PosixBrick.StartAsync();
        var (_, fd) = await b.CreateOk(Gfid.Root, "f");
        var ctx = PosixBrick.Root;
        var buf = new byte[4096];
        var xl = b.Xl;
        Run(xl, ctx, fd, buf, 10); // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(xl, ctx, fd, buf, 1000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        await b.Release(fd);
    }

    private static void Run(Translator xl, FopContext ctx, Fd fd, byte[] buf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            var w = xl.WritevAsync(ctx, fd, buf, i * 4096L);
            Assert.True(w.IsCompletedSuccessfully && w.Result.Ok);
            var r = xl.ReadvAsync(ctx, fd, buf, i * 4096L);
            Assert.True(r.IsCompletedSuccessfully && r.Result.Ok);
            var s = xl.FstatAsync(ctx, fd);
            Assert.True(s.IsCompletedSuccessfully && s.Result.Ok);
        }
    }
}
