using System.Buffers;
using System.Buffers.Binary;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>Every fop's request and reply survive encode → frame → decode, byte for byte.</summary>
public class WireCodecRoundTrips
{
    public static TheoryData<FopOp> AllOps()
    {
        var d = new TheoryData<FopOp>();
        for (var op = FopOps.First; op <= FopOps.Last; op++) d.Add(op);
        return d;
    }

    internal static FopRequest SampleRequest(FopOp op) => new(op)
    {
        Caller = new WireCaller { Uid = 1000, Gid = 100, Groups = [4, 24, 27], Pid = 4321, LockOwner = 0xdeadbeefcafe, MountId = Guid.NewGuid() },
        Xdata = op == FopOp.Lookup ? XdataSample() : null,
        Loc = new WireLoc(Gfid.NewGfid(), Gfid.NewGfid(), "näme-ü"),
        Loc2 = new WireLoc(Gfid.NewGfid(), Gfid.Root, "other"),
        Fd = 7, Fd2 = 9, Flags = op switch { FopOp.Lk => (int)LockCmd.SetLkW, FopOp.InodeLk or FopOp.EntryLk or FopOp.InodeLkXattrop or FopOp.FinodeLkXattrop => (int)DomainLockCmd.LockBlocking, _ => OpenFlags.O_RDWR | OpenFlags.O_CREAT }, Mode = 0x81a4, Umask = 0x12, Rdev = 0x0801,
        NewGfid = Gfid.NewGfid(), Instance = Guid.NewGuid(), Offset = 1L << 40, Offset2 = 12345, Length = 1 << 20, Size = 65536,
        Name = op is FopOp.Symlink ? "../target/path" : "user.test",
        Name2 = "entry-ä", Flags2 = (int)LockType.Write,
        Data = new byte[] { 1, 2, 3, 4, 5, 0, 255 },
        Attr = new SetAttr { Valid = SetAttrValid.Mode | SetAttrValid.Mtime, Mode = 0x1ed, Uid = 5, Gid = 6, Size = 99, Atime = new(1, 2), Mtime = new(3, 4), Ctime = new(5, 6) },
        Lock = new FileLock { Type = LockType.Write, Start = 10, Length = 20, Pid = 77, Owner = 88, Flock = true },
        DataOnly = true,
    };

    private static Xdata XdataSample()
    {
        var x = new Xdata();
        x.SetString("glusterfs.dht", "layout");
        x.SetInt64("count", 42);
        return x;
    }

    internal static FopReply SampleReply(FopOp op) => new()
    {
        Iatt = new Iatt
        {
            Gfid = Gfid.NewGfid(), Ino = 77, Mode = 0x81a4, Nlink = 2, Uid = 10, Gid = 20, Rdev = 3, Size = 4096, Blocks = 8, Blksize = 4096,
            Atime = new(100, 1), Mtime = new(200, 2), Ctime = new(300, 999_999_999),
        },
        Fd = 31, Value = 1L << 33, Text = "link/target", Bytes = [9, 8, 7], Names = ["user.a", "trusted.b"],
        Lock = new FileLock { Type = LockType.Read, Start = 1, Length = 0, Pid = 2, Owner = 3 },
        Vfs = new StatVfs { Blocks = 1, Bfree = 2, Bavail = 3, Files = 4, Ffree = 5, Bsize = 4096, Frsize = 4096, NameMax = 255 },
        Entries =
        [
            new DirEntry { Name = "a", Gfid = Gfid.NewGfid(), Ino = 5, Type = PosixMode.S_IFREG, NextOffset = 1 },
            new DirEntry { Name = "sub dir", Gfid = Gfid.NewGfid(), Ino = 6, Type = PosixMode.S_IFDIR, NextOffset = 2, Iatt = new Iatt { Gfid = Gfid.Root, Mode = 0x41ed } },
        ],
        Data = new byte[] { 42, 43, 44 },
    };

    /// <summary>A whole frame as the transport would send it: header, body, then bulk.</summary>
    internal static byte[] Frame(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter body)
    {
        var bytes = new byte[FrameHeader.Size + body.TotalLength];
        new FrameHeader(type, flags, op, id, body.TotalLength).Write(bytes);
        body.Written.CopyTo(bytes.AsSpan(FrameHeader.Size));
        body.Bulk.Span.CopyTo(bytes.AsSpan(FrameHeader.Size + body.Length));
        return bytes;
    }

    private static (FrameHeader, byte[]) Parse(byte[] frame)
    {
        var seq = new ReadOnlySequence<byte>(frame);
        Assert.True(FrameHeader.TryRead(ref seq, out var h, out var body, out var err), $"frame did not parse: {err}");
        Assert.Equal(0, seq.Length);
        return (h, body.ToArray());
    }

    [Theory, MemberData(nameof(AllOps))]
    public void Request_round_trips(FopOp op)
    {
        var q = SampleRequest(op);
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        var frame = Frame(FrameType.Request, flags, op, 12345, w);

        var (h, body) = Parse(frame);
        Assert.Equal((FrameType.Request, op, 12345UL), (h.Type, h.Op, h.Id));
        Assert.True(FopCodec.TryReadRequest(h.Op, h.Flags, body, out var back));
        Assert.Equal(q.Caller.Uid, back.Caller.Uid);
        Assert.Equal(q.Caller.Groups, back.Caller.Groups);
        Assert.Equal(q.Caller.LockOwner, back.Caller.LockOwner);
        Assert.Equal(q.Caller.MountId, back.Caller.MountId);

        var again = new BodyWriter();
        FopCodec.WriteRequest(again, back);
        Assert.Equal(frame, Frame(FrameType.Request, flags, op, 12345, again));
        if (op == FopOp.Writev) Assert.Equal(q.Data.ToArray(), back.Data.ToArray());
        if (op == FopOp.Lookup) Assert.Equal("layout", back.Xdata!.GetString("glusterfs.dht"));
    }

    [Theory, MemberData(nameof(AllOps))]
    public void Reply_round_trips(FopOp op)
    {
        var p = SampleReply(op);
        var w = new BodyWriter();
        var flags = FopCodec.WriteReply(w, op, p);
        var frame = Frame(FrameType.Reply, flags, op, 9, w);

        var (h, body) = Parse(frame);
        Assert.True(FopCodec.TryReadReply(h.Op, h.Flags, body, out var back));
        Assert.Equal(Errno.OK, back.Error);
        var again = new BodyWriter();
        FopCodec.WriteReply(again, op, back);
        Assert.Equal(frame, Frame(FrameType.Reply, flags, op, 9, again));
    }

    [Theory, MemberData(nameof(AllOps))]
    public void Error_reply_carries_only_the_errno(FopOp op)
    {
        var w = new BodyWriter();
        FopCodec.WriteReply(w, op, new FopReply(Errno.EACCES));
        Assert.Equal(4, w.TotalLength);
        Assert.True(FopCodec.TryReadReply(op, FrameFlags.None, w.Written.ToArray(), out var back));
        Assert.Equal(Errno.EACCES, back.Error);
    }

    [Fact]
    public void Handshake_messages_round_trip_and_proofs_depend_on_every_input()
    {
        var hello = new Handshake.Hello(Handshake.Version, Guid.NewGuid(), 7, Guid.NewGuid(), "brick1", Handshake.NewNonce());
        var w = new BodyWriter();
        Handshake.Write(w, hello);
        var back = Handshake.ReadHello(w.Written.ToArray())!;
        Assert.Equal((hello.Identity, hello.Generation, hello.Instance, hello.Brick), (back.Identity, back.Generation, back.Instance, back.Brick));
        Assert.Equal(hello.ClientNonce, back.ClientNonce);

        byte[] secret = "s3cret"u8.ToArray(), nonce = Handshake.NewNonce();
        var proof = Handshake.Proof(secret, Handshake.ClientRole, hello, nonce);
        Assert.True(Handshake.ProofMatches(proof, Handshake.Proof(secret, Handshake.ClientRole, back, nonce)));
        Assert.False(Handshake.ProofMatches(proof, Handshake.Proof("other"u8.ToArray(), Handshake.ClientRole, hello, nonce)));
        Assert.False(Handshake.ProofMatches(proof, Handshake.Proof(secret, Handshake.ServerRole, hello, nonce)));
        Assert.False(Handshake.ProofMatches(proof, Handshake.Proof(secret, Handshake.ClientRole, hello with { Generation = 8 }, nonce)));
        Assert.False(Handshake.ProofMatches(proof, Handshake.Proof(secret, Handshake.ClientRole, hello, Handshake.NewNonce())));
    }

    [Fact]
    public void Auth_and_welcome_carry_the_resume_token_and_a_bounded_reason()
    {
        var w = new BodyWriter();
        var auth = new Handshake.Auth(Handshake.NewNonce(), Handshake.NewToken());
        Handshake.Write(w, auth);
        var a = Handshake.ReadAuth(w.Written.ToArray())!;
        Assert.Equal(auth.Proof, a.Proof);
        Assert.Equal(auth.ResumeToken, a.ResumeToken);
        w.Reset();
        Handshake.Write(w, new Handshake.Auth([], []));
        Assert.Equal(2, w.Length);
        Assert.Empty(Handshake.ReadAuth(w.Written.ToArray())!.ResumeToken);

        w.Reset();
        var welcome = new Handshake.Welcome(Errno.OK, true, Handshake.NewNonce(), Handshake.NewToken(), "");
        Handshake.Write(w, welcome);
        var back = Handshake.ReadWelcome(w.Written.ToArray())!;
        Assert.True(back.Resumed);
        Assert.Equal(welcome.ServerProof, back.ServerProof);
        Assert.Equal(welcome.ResumeToken, back.ResumeToken);
        Assert.Equal("", back.Reason);

        // A refusal's reason is cut to MaxReason bytes (whole characters), so a refusal always fits a handshake frame.
        w.Reset();
        Handshake.Write(w, Handshake.Welcome.Refusal(Errno.EACCES, new string('é', Handshake.MaxReason)));
        var refusal = Handshake.ReadWelcome(w.Written.ToArray())!;
        Assert.Equal(Errno.EACCES, refusal.Error);
        Assert.Equal(new string('é', Handshake.MaxReason / 2), refusal.Reason);
        Assert.True(w.Length <= Handshake.MaxBody);

        // A token or proof of any other length than 0 or 32 is malformed.
        Assert.Null(Handshake.ReadAuth(new byte[] { 0, 5, 1, 2, 3, 4, 5 }));
    }
}

/// <summary>Bytes that are not a valid frame or body are refused, never trusted and never thrown on.</summary>
public class WireCodecRefusesMalformedInput
{
    private static byte[] Header(uint length, byte type = (byte)FrameType.Request)
    {
        var h = new byte[FrameHeader.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(h, length);
        h[4] = type;
        return h;
    }

    private static FrameError TryRead(byte[] bytes, out bool complete)
    {
        var seq = new ReadOnlySequence<byte>(bytes);
        complete = FrameHeader.TryRead(ref seq, out _, out _, out var err);
        return err;
    }

    [Fact]
    public void Oversized_length_is_refused_from_the_header_alone()
    {
        Assert.Equal(FrameError.TooLarge, TryRead(Header(FrameHeader.MaxBody + 13), out var ok));
        Assert.False(ok);
        Assert.Equal(FrameError.TooLarge, TryRead(Header(uint.MaxValue), out _));
    }

    [Fact]
    public void Length_shorter_than_a_header_is_refused() => Assert.Equal(FrameError.TooSmall, TryRead(Header(11), out _));

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    [InlineData(255)]
    public void Unknown_frame_type_is_refused(byte type) => Assert.Equal(FrameError.UnknownType, TryRead(Header(12, type), out _));

    [Fact]
    public void A_partial_frame_waits_for_more_bytes()
    {
        var bytes = Header(12 + 100).Concat(new byte[50]).ToArray();
        Assert.Equal(FrameError.None, TryRead(bytes, out var ok));
        Assert.False(ok);
        Assert.Equal(FrameError.None, TryRead(bytes[..7], out ok));
        Assert.False(ok);
    }

    [Theory, MemberData(nameof(WireCodecRoundTrips.AllOps), MemberType = typeof(WireCodecRoundTrips))]
    public void Truncated_or_padded_request_body_is_malformed(FopOp op)
    {
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, WireCodecRoundTrips.SampleRequest(op));
        var body = w.Written.ToArray().Concat(w.Bulk.ToArray()).ToArray();
        Assert.True(FopCodec.TryReadRequest(op, flags, body, out _));
        Assert.False(FopCodec.TryReadRequest(op, flags, body[..^1], out _));
        Assert.False(FopCodec.TryReadRequest(op, flags, body.Append((byte)0).ToArray(), out _));
        Assert.False(FopCodec.TryReadRequest(op, flags ^ FrameFlags.Xdata, body, out _));
    }

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)40)]
    [InlineData((ushort)65535)]
    public void Unknown_opcode_is_malformed(ushort op)
    {
        var w = new BodyWriter();
        FopCodec.WriteRequest(w, WireCodecRoundTrips.SampleRequest(FopOp.Stat));
        Assert.False(FopCodec.TryReadRequest((FopOp)op, FrameFlags.None, w.Written.ToArray(), out _));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("nul\0")]
    public void A_name_that_is_not_one_path_component_is_malformed(string name)
    {
        var q = WireCodecRoundTrips.SampleRequest(FopOp.Lookup);
        q.Loc = new WireLoc(default, Gfid.Root, name);
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        Assert.False(FopCodec.TryReadRequest(FopOp.Lookup, flags, w.Written.ToArray(), out _));
    }

    [Fact]
    public void An_entrylk_on_the_whole_directory_travels_as_no_name_not_an_empty_one()
    {
        var q = WireCodecRoundTrips.SampleRequest(FopOp.EntryLk);
        q.Name2 = null;
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        Assert.True(FopCodec.TryReadRequest(FopOp.EntryLk, flags, w.Written.ToArray(), out var back));
        Assert.Null(back.Name2);
        Assert.Equal((int)DomainLockCmd.LockBlocking, back.Flags);
        Assert.Equal((int)LockType.Write, back.Flags2);
    }

    [Theory]
    [InlineData((ushort)42, 3, 1, 0L)]
    [InlineData((ushort)42, 0, 3, 0L)]
    [InlineData((ushort)42, 0, 1, -1L)]
    [InlineData((ushort)43, -1, 1, 0L)]
    [InlineData((ushort)43, 1, 7, 0L)]
    public void A_domain_lock_with_an_unknown_command_or_type_or_a_negative_range_is_malformed(ushort op, int cmd, int type, long start)
    {
        var q = WireCodecRoundTrips.SampleRequest((FopOp)op);
        q.Flags = cmd;
        q.Flags2 = type;
        q.Offset = start;
        var w = new BodyWriter();
        var flags = FopCodec.WriteRequest(w, q);
        Assert.False(FopCodec.TryReadRequest((FopOp)op, flags, w.Written.ToArray(), out _));
    }

    [Fact]
    public void Huge_counts_inside_a_body_are_malformed_without_allocating_them()
    {
        // caller with 2^31 groups
        var w = new BodyWriter();
        w.U32(0); w.U32(0); w.U32(int.MaxValue);
        Assert.False(FopCodec.TryReadRequest(FopOp.Fstat, FrameFlags.None, w.Written.ToArray(), out _));
        // a string claiming 4 GiB
        var q = WireCodecRoundTrips.SampleRequest(FopOp.Getxattr);
        var w2 = new BodyWriter();
        WireStructs.Write(w2, q.Caller); WireStructs.Write(w2, q.Loc); w2.U32(0xFFFFFFF0);
        Assert.False(FopCodec.TryReadRequest(FopOp.Getxattr, FrameFlags.None, w2.Written.ToArray(), out _));
        // readdir reply claiming a billion entries
        var w3 = new BodyWriter();
        w3.I32(0); w3.U32(1_000_000_000);
        Assert.False(FopCodec.TryReadReply(FopOp.Readdir, FrameFlags.None, w3.Written.ToArray(), out _));
    }

    [Fact]
    public void Garbage_xdata_is_malformed()
    {
        var w = new BodyWriter();
        WireStructs.Write(w, WireCodecRoundTrips.SampleRequest(FopOp.Lookup).Caller);
        w.U32(3); w.String("k"); w.U32(1 << 30);
        Assert.False(FopCodec.TryReadRequest(FopOp.Lookup, FrameFlags.Xdata, w.Written.ToArray(), out _));
    }

    [Fact]
    public void Random_bodies_never_throw()
    {
        var rng = new Random(1234);
        for (int i = 0; i < 20000; i++)
        {
            var b = new byte[rng.Next(0, 200)];
            rng.NextBytes(b);
            var op = (FopOp)rng.Next(0, 42);
            var flags = (FrameFlags)rng.Next(0, 3);
            FopCodec.TryReadRequest(op, flags, b, out _);
            FopCodec.TryReadReply(op, flags, b, out _);
            Handshake.ReadHello(b); Handshake.ReadAuth(b); Handshake.ReadChallenge(b); Handshake.ReadWelcome(b);
        }
    }
}
