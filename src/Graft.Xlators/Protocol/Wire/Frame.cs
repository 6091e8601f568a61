using System.Buffers;
using System.Buffers.Binary;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>What a frame carries. Values are on the wire: never renumber.</summary>
public enum FrameType : byte
{
    Hello = 1,      // client → server: version, identity, brick name, client nonce
    Challenge = 2,  // server → client: server nonce, whether a secret is required
    Auth = 3,       // client → server: HMAC proof of the shared secret (or none)
    Welcome = 4,    // server → client: accepted (errno OK) or refused, session resumed or new
    Request = 5,    // client → server: one fop
    Reply = 6,      // server → client: the answer to the request with the same id
    Ping = 7,       // either way: liveness probe
    Pong = 8,       // the answer to a ping with the same id
    Goodbye = 9,    // client → server: clean disconnect, free my state now
    Cancel = 10,    // client → server: interrupt the request with this id (a blocking lock); empty body
    Upcall = 11,    // server → client: an invalidation notice (UpcallCodec), only to a client that asked at its handshake
}

[Flags]
public enum FrameFlags : byte { None = 0, Xdata = 1 }

/// <summary>Why a byte stream is not a valid frame. Any of these closes the connection.</summary>
public enum FrameError { None, TooLarge, TooSmall, UnknownType }

/// <summary>
/// The fixed 16-byte frame header, little-endian:
/// <c>u32 length | u8 type | u8 flags | u16 op | u64 id</c>, where length counts the bytes after
/// the length field (12 + body). See docs/wire-protocol.md.
/// </summary>
public readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, FopOp Op, ulong Id, int BodyLength)
{
    public const int Size = 16;
    /// <summary>Largest body: a 1 MiB I/O payload plus room for its arguments and xdata.</summary>
    public const int MaxBody = (1 << 20) + (64 << 10);
    /// <summary>Largest readv/writev payload one frame carries; bigger calls are split by the client.</summary>
    public const int MaxIo = 1 << 20;

    public void Write(Span<byte> dest)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(dest, (uint)(BodyLength + 12));
        dest[4] = (byte)Type;
        dest[5] = (byte)Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(dest[6..], (ushort)Op);
        BinaryPrimitives.WriteUInt64LittleEndian(dest[8..], Id);
    }

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>. Returns false with
    /// <see cref="FrameError.None"/> when more bytes are needed, false with an error when the
    /// stream is not valid (the header is checked before the body arrives, so a huge length is
    /// refused without buffering it).
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out ReadOnlySequence<byte> body, out FrameError error)
    {
        header = default; body = default; error = FrameError.None;
        if (buffer.Length < Size) return false;
        Span<byte> h = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(h);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(h);
        if (len < 12) { error = FrameError.TooSmall; return false; }
        if (len > MaxBody + 12) { error = FrameError.TooLarge; return false; }
        var type = (FrameType)h[4];
        if (type < FrameType.Hello || type > FrameType.Upcall) { error = FrameError.UnknownType; return false; }
        long total = len + 4;
        if (buffer.Length < total) return false;
        header = new FrameHeader(type, (FrameFlags)h[5], (FopOp)BinaryPrimitives.ReadUInt16LittleEndian(h[6..]),
                                 BinaryPrimitives.ReadUInt64LittleEndian(h[8..]), (int)len - 12);
        body = buffer.Slice(Size, header.BodyLength);
        buffer = buffer.Slice(total);
        return true;
    }
}
