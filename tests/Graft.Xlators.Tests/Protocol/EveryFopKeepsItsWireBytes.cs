using System.Runtime.CompilerServices;
using System.Text;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// The wire format of every fop is a contract with bricks and clients already deployed: each
/// request and reply, encoded from fixed values, is byte for byte what the codec produced when the
/// codec was written by hand (wire-golden.txt, recorded then). Ops added since are checked for
/// round trips elsewhere; an op listed in the file must never change.
/// </summary>
/// <remarks>
/// To record the file again (only ever for a new op: existing lines must not change), run this test
/// with GRAFT_RECORD_WIRE_GOLDEN=1; it rewrites wire-golden.txt beside this source file.
/// </remarks>
public class EveryFopKeepsItsWireBytes
{
    private static readonly Gfid G1 = new(0x0102030405060708, 0x090a0b0c0d0e0f10), G2 = new(0x1112131415161718, 0x191a1b1c1d1e1f20),
                                 G3 = new(0x2122232425262728, 0x292a2b2c2d2e2f30), G4 = new(0x3132333435363738, 0x393a3b3c3d3e3f40);
    private static readonly Guid Mount = new("6a1f0c2e-5b7d-4e88-9f10-2233445566aa"), Instance = new("0badc0de-1234-4321-8765-fedcba987654");

    /// <summary>Every field set, each to a value no other field has, so a field read in the wrong place shows.</summary>
    internal static FopRequest Request(FopOp op)
    {
        var q = new FopRequest(op)
        {
            Caller = new WireCaller { Uid = 1000, Gid = 100, Groups = [4, 24, 27], Pid = 4321, LockOwner = 0xdeadbeefcafe, MountId = Mount },
            Loc = new WireLoc(G1, G2, "näme-ü"),
            Loc2 = new WireLoc(G3, Gfid.Root, "other"),
            Fd = 0x7070707070707070, Fd2 = 0x9090909090909090,
            Flags = op switch { FopOp.Lk => (int)LockCmd.SetLkW, FopOp.InodeLk or FopOp.EntryLk or FopOp.InodeLkXattrop => (int)DomainLockCmd.LockBlocking, _ => OpenFlags.O_RDWR | OpenFlags.O_CREAT },
            Mode = 0x81a4, Umask = 0x12, Rdev = 0x0801, NewGfid = G4, Instance = Instance,
            Offset = 1L << 40, Offset2 = 12345, Length = 1 << 20, Size = 65536,
            Name = op is FopOp.Symlink ? "../target/path" : "user.test",
            Name2 = "entry-ä", Flags2 = (int)LockType.Write,
            Data = new byte[] { 1, 2, 3, 4, 5, 0, 255 },
            Attr = new SetAttr { Valid = SetAttrValid.Mode | SetAttrValid.Mtime, Mode = 0x1ed, Uid = 5, Gid = 6, Size = 99, Atime = new(1, 2), Mtime = new(3, 4), Ctime = new(5, 6) },
            Lock = new FileLock { Type = LockType.Write, Start = 10, Length = 20, Pid = 77, Owner = 88, Flock = true },
            DataOnly = true,
        };
        // readdir's entry count travels in the int field now (it was Size): the same value in both
        // keeps the bytes comparable across that move.
        if (op is FopOp.Readdir or FopOp.Readdirp) q.Flags = (int)q.Size;
        if (op == FopOp.Lookup)
        {
            q.Xdata = new Xdata();
            q.Xdata.SetString("glusterfs.dht", "layout");
            q.Xdata.SetInt64("count", 42);
        }
        return q;
    }

    internal static FopReply Reply(FopOp op)
    {
        var p = new FopReply
        {
            Iatt = new Iatt
            {
                Gfid = G1, Ino = 77, Mode = 0x81a4, Nlink = 2, Uid = 10, Gid = 20, Rdev = 3, Size = 4096, Blocks = 8, Blksize = 4096,
                Atime = new(100, 1), Mtime = new(200, 2), Ctime = new(300, 999_999_999),
            },
            Fd = 0x3131313131313131, Value = 1L << 33, Text = "link/target", Bytes = [9, 8, 7], Names = ["user.a", "trusted.b"],
            Lock = new FileLock { Type = LockType.Read, Start = 1, Length = 0, Pid = 2, Owner = 3 },
            Vfs = new StatVfs { Blocks = 1, Bfree = 2, Bavail = 3, Files = 4, Ffree = 5, Bsize = 4096, Frsize = 4096, NameMax = 255 },
            Entries =
            [
                new DirEntry { Name = "a", Gfid = G2, Ino = 5, Type = PosixMode.S_IFREG, NextOffset = 1 },
                new DirEntry { Name = "sub dir", Gfid = G3, Ino = 6, Type = PosixMode.S_IFDIR, NextOffset = 2, Iatt = new Iatt { Gfid = Gfid.Root, Mode = 0x41ed } },
            ],
            Data = new byte[] { 42, 43, 44 },
        };
        if (op == FopOp.Stat)
        {
            p.Xdata = new Xdata();
            p.Xdata.SetString("reply", "hint");
        }
        return p;
    }

    private static string Hex(FrameFlags flags, BodyWriter w) =>
        $"{(int)flags} {Convert.ToHexString(w.Written)}{(w.Bulk.IsEmpty ? "" : "|" + Convert.ToHexString(w.Bulk.Span))}";

    private static string RequestLine(FopOp op)
    {
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, Request(op));
        return $"request {(ushort)op} {op} {Hex(flags, w)}";
    }

    private static string ReplyLine(FopOp op)
    {
        var w = new BodyWriter();
        var flags = FopCodec.WriteReply(w, op, Reply(op));
        return $"reply {(ushort)op} {op} {Hex(flags, w)}";
    }

    private static string GoldenPath([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "wire-golden.txt");

    [Fact]
    public void Every_recorded_request_and_reply_encodes_to_the_same_bytes()
    {
        var path = GoldenPath();
        if (Environment.GetEnvironmentVariable("GRAFT_RECORD_WIRE_GOLDEN") == "1")
        {
            var sb = new StringBuilder("# Wire bytes of every fop, from EveryFopKeepsItsWireBytes' fixed values: op, flags, body hex | bulk hex.\n");
            for (var op = FopOps.First; op <= FopOps.Last; op++) sb.Append(RequestLine(op)).Append('\n').Append(ReplyLine(op)).Append('\n');
            File.WriteAllText(path, sb.ToString());
        }
        var lines = File.ReadAllLines(path).Where(l => !l.StartsWith('#')).ToList();
        Assert.True(lines.Count >= 2 * 40, $"{path} holds {lines.Count} lines, fewer than the 40 ops there were when it was recorded");
        foreach (var line in lines)
        {
            var parts = line.Split(' ', 4);
            var op = (FopOp)ushort.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(parts[2], op.ToString());   // an opcode never changes its fop
            Assert.Equal(line, parts[0] == "request" ? RequestLine(op) : ReplyLine(op));
        }
    }

    [Fact]
    public void The_recorded_bytes_decode_to_what_was_encoded()
    {
        foreach (var line in File.ReadAllLines(GoldenPath()).Where(l => l.StartsWith("request ", StringComparison.Ordinal)))
        {
            var parts = line.Split(' ');
            var op = (FopOp)ushort.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            var hex = parts[4].Split('|');
            var body = Convert.FromHexString(hex[0]).Concat(hex.Length > 1 ? Convert.FromHexString(hex[1]) : []).ToArray();
            Assert.True(FopCodec.TryReadRequest(op, (FrameFlags)int.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture), body, out var back), $"{op} does not decode");
            var w = new BodyWriter();
            var flags = FopCodec.WriteRequest(w, back);
            Assert.Equal(line, $"request {(ushort)op} {op} {Hex(flags, w)}");
        }
    }
}
