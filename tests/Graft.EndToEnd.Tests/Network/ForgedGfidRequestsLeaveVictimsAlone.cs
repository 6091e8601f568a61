using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A client that forges lookup's gfid-req — naming another object's GFID, or the root's — for an
/// object that has none yet (data put in the brick directory behind its back) cannot take that GFID:
/// the brick refuses, and the victim keeps its GFID, its handle and its directory record. Nor does
/// an open or create under a GFID the name does not hold reach the object there (ESTALE).
/// </summary>
public partial class ForgedGfidRequestsLeaveVictimsAlone
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte[] value, nint size);

    /// <summary>The GFID stamped on a brick object, read from its xattr as root.</summary>
    private static Gfid OnDisk(string path)
    {
        var v = new byte[16];
        Assert.Equal(16, lgetxattr(path, "trusted.graft.gfid", v, 16));
        return Gfid.FromBytes(v);
    }

    private static Xdata Want(Gfid g)
    {
        var x = new Xdata();
        x.Set("gfid-req", g.ToBytes());
        return x;
    }

    private static FopRequest Lookup(Gfid parent, string name, Xdata? x = null) =>
        new(FopOp.Lookup) { Loc = new WireLoc(default, parent, name), Xdata = x };

    [Fact]
    public async Task Forged_gfid_requests_are_refused_and_the_victims_keep_their_gfids()
    {
        var dir = BrickProcess.NewTempDir();
        var brickDir = Path.Combine(dir, "b");
        Directory.CreateDirectory(Path.Combine(brickDir, "plaindir"));
        File.WriteAllText(Path.Combine(brickDir, "plain"), "not yet known to the brick");
        await using var brick = await BrickProcess.ServeDirAsync(brickDir);
        try
        {
            await using var c = await RawWireClient.ConnectAsync(brick.Port, "b");
            Gfid victim = Gfid.NewGfid(), victimDir = Gfid.NewGfid(), inner = Gfid.NewGfid();
            var created = await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Create)
            {
                Loc = new WireLoc(default, Gfid.Root, "victim"), Flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT, Mode = 0x1a4, NewGfid = victim,
            }), FopOp.Create);
            Assert.Equal(Errno.OK, created.Error);
            Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Writev)
                { Fd = created.Fd, Data = "victim's data"u8.ToArray() }), FopOp.Writev)).Error);
            Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Mkdir)
                { Loc = new WireLoc(default, Gfid.Root, "victimdir"), Mode = 0x1ed, NewGfid = victimDir }), FopOp.Mkdir)).Error);
            Assert.Equal(Errno.OK, (await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Mkdir)
                { Loc = new WireLoc(default, victimDir, "inner"), Mode = 0x1ed, NewGfid = inner }), FopOp.Mkdir)).Error);

            // The forgeries: another object's GFID, for a file and a directory that have none; the root's.
            foreach (var (name, stolen, expected) in new[]
            {
                ("plain", victim, Errno.EEXIST), ("plain", victimDir, Errno.EEXIST), ("plaindir", victim, Errno.EEXIST),
                ("plaindir", victimDir, Errno.EEXIST), ("plaindir", Gfid.Root, Errno.EINVAL), ("plain", Gfid.Root, Errno.EINVAL),
            })
                Assert.Equal(expected, (await c.ReplyAsync(await c.SendAsync(Lookup(Gfid.Root, name, Want(stolen))), FopOp.Lookup)).Error);
            // And a new GFID for objects that have one: ignored.
            foreach (var (name, own) in new[] { ("victim", victim), ("victimdir", victimDir) })
                Assert.Equal(own, (await c.ReplyAsync(await c.SendAsync(Lookup(Gfid.Root, name, Want(Gfid.NewGfid()))), FopOp.Lookup)).Iatt.Gfid);

            // The victims are what their GFIDs lead to, on disk and through the brick.
            Assert.Equal(victim, OnDisk(Path.Combine(brickDir, "victim")));
            Assert.Equal(victimDir, OnDisk(Path.Combine(brickDir, "victimdir")));
            var byId = await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Lookup) { Loc = new WireLoc(victim, default, null) }), FopOp.Lookup);
            Assert.Equal((Errno.OK, 13L), (byId.Error, byId.Iatt.Size));
            var below = await c.ReplyAsync(await c.SendAsync(Lookup(victimDir, "inner")), FopOp.Lookup);
            Assert.Equal((Errno.OK, inner), (below.Error, below.Iatt.Gfid));   // victimdir's record still leads to victimdir

            // The forgers' objects got nothing; asked plainly they get GFIDs of their own.
            foreach (var name in new[] { "plain", "plaindir" })
            {
                var own = await c.ReplyAsync(await c.SendAsync(Lookup(Gfid.Root, name)), FopOp.Lookup);
                Assert.Equal(Errno.OK, own.Error);
                Assert.DoesNotContain(own.Iatt.Gfid, new[] { victim, victimDir, Gfid.Root });
            }

            // Opening a name under a GFID it does not hold reaches nothing.
            var wrongOpen = await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Open)
                { Loc = new WireLoc(victim, Gfid.Root, "plain"), Flags = OpenFlags.O_RDWR }), FopOp.Open);
            Assert.Equal(Errno.ESTALE, wrongOpen.Error);
            var wrongCreate = await c.ReplyAsync(await c.SendAsync(new FopRequest(FopOp.Create)
                { Loc = new WireLoc(default, Gfid.Root, "victim"), Flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT, Mode = 0x1a4, NewGfid = Gfid.NewGfid() }), FopOp.Create);
            Assert.Equal(Errno.ESTALE, wrongCreate.Error);
            Assert.Equal(victim, OnDisk(Path.Combine(brickDir, "victim")));
        }
        finally
        {
            await brick.StopAsync();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
