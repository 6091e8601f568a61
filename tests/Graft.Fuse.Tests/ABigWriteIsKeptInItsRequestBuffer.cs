using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;
using Graft.Mount;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Performance.WriteBehind;
using Graft.Xlators.Storage.Posix;

namespace Graft.Fuse.Tests;

/// <summary>
/// A big WRITE's payload is lent to write-behind (FopContext.Payload) instead of copied: the request's buffer stays out
/// of the pool until the write is on the brick, so the requests the kernel sends meanwhile are read into other buffers
/// and every write lands intact; once written, the buffers come back.
/// </summary>
public class ABigWriteIsKeptInItsRequestBuffer
{
    [Fact]
    public async Task Writes_that_lent_their_buffers_land_intact_while_later_requests_are_read()
    {
        string root = Path.Combine(TestMount.PrivateTemp(), "lend-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        File.WriteAllBytes(Path.Combine(root, "f"), []);
        // The first write waits 3 s below write-behind (acknowledged at once): its buffer must not be reused meanwhile.
        var graph = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = root }),
            (FaultsTranslator.Spec, "faults", new Dictionary<string, string> { ["delay"] = "writev", ["delay-count"] = "1", ["delay-duration"] = "3s" }),
            (WriteBehindTranslator.Spec, "wb", null));
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        var session = new MountSession(graph);
        const int size = 64 * 1024, writes = 6;
        try
        {
            using var k = new FakeKernel(new FuseBridge(session), new FuseMountOptions { MaxWrite = size });
            k.Init();
            var (node, fh) = k.LookupAndOpen("f");

            var args = new byte[40 + size];
            for (int i = 0; i < writes; i++)
            {
                var wi = new FuseWriteIn { Fh = fh, Size = size, Offset = (ulong)(i * size) };
                MemoryMarshal.Write(args, in wi);
                Array.Fill(args, (byte)('A' + i), 40, size);
                k.Send(FuseOpcode.Write, args, nodeId: node);
                var (h, body) = k.Receive()!.Value;
                Assert.Equal(0, h.Error);
                Assert.Equal((uint)size, BitConverter.ToUInt32(body));
                // Acknowledged while the first is still below: lent, not copied. The next requests are read meanwhile,
                // each into another buffer (the pool gives the latest returned first: a lent one returned early would be
                // overwritten by the very next WRITE).
                if (i == 0) Assert.True(k.Session.BuffersLent == 1, $"lent {k.Session.BuffersLent}, held {((WriteBehindTranslator)graph.Top).BytesHeld}, injected {((FaultsTranslator)graph.Translators[1]).Injected}");
            }
            // A GETATTR waits for the file's queue (write-behind settles before it): it comes back once all are written.
            k.Send(FuseOpcode.GetAttr, new FuseGetattrIn { GetattrFlags = FuseConst.GetattrFh, Fh = fh }, nodeId: node);
            Assert.Equal(0, k.Receive(15_000)!.Value.Header.Error);
            k.Send(FuseOpcode.Fsync, new FuseFsyncIn { Fh = fh }, nodeId: node);
            Assert.Equal(0, k.Receive(15_000)!.Value.Header.Error);
            Assert.Equal(0, k.Session.BuffersLent); // each given back once written

            var onBrick = File.ReadAllBytes(Path.Combine(root, "f"));
            Assert.Equal(writes * size, onBrick.Length);
            for (int i = 0; i < writes; i++)
                Assert.True(onBrick.AsSpan(i * size, size).IndexOfAnyExcept((byte)('A' + i)) < 0, $"write {i} did not land intact");
            Assert.True(((WriteBehindTranslator)graph.Top).WritesSent >= 1);
        }
        finally
        {
            await session.DisposeAsync();
            Directory.Delete(root, true);
        }
    }
}
